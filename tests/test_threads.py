from __future__ import annotations

from helpers import (
    assert_not_found,
    assert_param,
    assert_param_startswith,
    assert_recent,
    bad_request,
    content_dump,
    dump,
    not_found,
    text_part,
    upload,
)


def messages_asc(client, thread_id):
    return list(client.beta.threads.messages.list(thread_id, order="asc", limit=100))


def test_create_empty(client):
    t = client.beta.threads.create()
    assert t.id.startswith("thread_")
    assert t.object == "thread"
    assert_recent(t.created_at)
    assert t.metadata == {}
    assert messages_asc(client, t.id) == []


def test_create_with_initial_messages(client):
    t = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": [{"type": "text", "text": "second"}]},
            {"role": "user", "content": "third", "metadata": {"n": "3"}},
        ],
        metadata={"topic": "demo"},
    )
    assert t.metadata == {"topic": "demo"}
    msgs = messages_asc(client, t.id)
    assert [m.role for m in msgs] == ["user", "assistant", "user"]
    assert [content_dump(m) for m in msgs] == [[text_part("first")], [text_part("second")], [text_part("third")]]
    assert all(m.thread_id == t.id and m.id.startswith("msg_") for m in msgs)
    assert msgs[2].metadata == {"n": "3"}


def test_retrieve_matches_create(client):
    t = client.beta.threads.create(metadata={"a": "b"})
    assert dump(client.beta.threads.retrieve(t.id)) == dump(t)


def test_update_replaces_metadata(client):
    t = client.beta.threads.create(metadata={"a": "1", "b": "2"})
    u = client.beta.threads.update(t.id, metadata={"c": "3"})
    assert (u.id, u.created_at, u.metadata) == (t.id, t.created_at, {"c": "3"})
    assert client.beta.threads.retrieve(t.id).metadata == {"c": "3"}


def test_tool_resources(client):
    f = upload(client)
    t = client.beta.threads.create(tool_resources={"code_interpreter": {"file_ids": [f.id]}})
    assert t.tool_resources.code_interpreter.file_ids == [f.id]
    body = bad_request(client.beta.threads.create,
                       tool_resources={"code_interpreter": {"file_ids": ["file-missing"]}})
    assert_param_startswith(body, "tool_resources.code_interpreter.file_ids")


def test_delete_removes_thread_and_messages(client):
    t = client.beta.threads.create(messages=[{"role": "user", "content": "bye"}])
    msg_id = messages_asc(client, t.id)[0].id
    d = client.beta.threads.delete(t.id)
    assert (d.id, d.object, d.deleted) == (t.id, "thread.deleted", True)
    assert_not_found("thread", t.id, client.beta.threads.retrieve, t.id)
    assert_not_found("thread", t.id, client.beta.threads.messages.list, t.id)
    not_found(client.beta.threads.messages.retrieve, msg_id, thread_id=t.id)
    assert_not_found("thread", t.id, client.beta.threads.delete, t.id)


def test_unknown_thread_is_404(client):
    missing = "thread_doesnotexist"
    assert_not_found("thread", missing, client.beta.threads.retrieve, missing)
    assert_not_found("thread", missing, client.beta.threads.update, missing, metadata={"a": "b"})
    assert_not_found("thread", missing, client.beta.threads.delete, missing)
    assert_not_found("thread", missing, client.beta.threads.messages.create, missing, role="user", content="x")


def test_bad_initial_message_rejected(client):
    body = bad_request(client.beta.threads.create,
                       messages=[{"role": "user", "content": "ok"}, {"role": "system", "content": "bad"}])
    assert_param_startswith(body, "messages")


def test_invalid_metadata_is_400(client):
    body = bad_request(client.beta.threads.create, metadata={f"k{i}": "v" for i in range(17)})
    assert_param(body, "metadata")
