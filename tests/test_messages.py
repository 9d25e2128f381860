from __future__ import annotations

import pytest

from helpers import (
    assert_not_found,
    assert_param,
    assert_param_startswith,
    assert_recent,
    bad_request,
    content_dump,
    dump,
    ids,
    text_part,
    upload,
)


@pytest.fixture
def thread(client):
    return client.beta.threads.create()


def add(client, thread_id, content="hi", role="user", **kwargs):
    return client.beta.threads.messages.create(thread_id, role=role, content=content, **kwargs)


def test_string_content_user_message(client, thread):
    m = add(client, thread.id, "Hello there")
    assert m.id.startswith("msg_")
    assert m.object == "thread.message"
    assert m.thread_id == thread.id
    assert_recent(m.created_at)
    assert m.role == "user"
    assert m.status == "completed"
    assert m.assistant_id is None and m.run_id is None
    assert m.attachments == []
    assert m.metadata == {}
    assert content_dump(m) == [text_part("Hello there")]


def test_content_parts(client, thread):
    img = upload(client, content=b"\x89PNG\r\n\x1a\n", name="pic.png", mime="image/png", purpose="vision")
    m = add(client, thread.id, [
        {"type": "text", "text": "plain"},
        {"type": "image_file", "image_file": {"file_id": img.id}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ])
    parts = content_dump(m)
    assert [p["type"] for p in parts] == ["text", "image_file", "image_url"]
    assert parts[0] == text_part("plain")
    assert parts[1]["image_file"]["file_id"] == img.id
    assert parts[2]["image_url"]["url"] == "https://example.com/cat.png"
    assert content_dump(client.beta.threads.messages.retrieve(m.id, thread_id=thread.id)) == parts


def test_assistant_role_accepted(client, thread):
    m = add(client, thread.id, "I am the assistant", role="assistant")
    assert m.role == "assistant"
    assert content_dump(m) == [text_part("I am the assistant")]


def test_invalid_role_is_400(client, thread):
    assert_param(bad_request(add, client, thread.id, role="system"), "role")
    assert client.beta.threads.messages.list(thread.id).data == []


def test_attachments(client, thread):
    f = upload(client)
    attachments = [{"file_id": f.id, "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]}]
    m = add(client, thread.id, "see file", attachments=attachments)
    assert [a.model_dump(mode="json", exclude_none=True) for a in m.attachments] == attachments
    again = client.beta.threads.messages.retrieve(m.id, thread_id=thread.id)
    assert dump(again) == dump(m)


def test_attachment_unknown_file_is_400(client, thread):
    body = bad_request(add, client, thread.id, attachments=[{"file_id": "file-nope", "tools": [{"type": "file_search"}]}])
    assert_param_startswith(body, "attachments")
    assert client.beta.threads.messages.list(thread.id).data == []


def test_retrieve_update_delete(client, thread):
    m = add(client, thread.id, metadata={"a": "1", "b": "2"})
    assert dump(client.beta.threads.messages.retrieve(m.id, thread_id=thread.id)) == dump(m)
    u = client.beta.threads.messages.update(m.id, thread_id=thread.id, metadata={"c": "3"})
    assert u.metadata == {"c": "3"}
    assert content_dump(u) == content_dump(m)
    assert client.beta.threads.messages.retrieve(m.id, thread_id=thread.id).metadata == {"c": "3"}
    d = client.beta.threads.messages.delete(m.id, thread_id=thread.id)
    assert (d.id, d.object, d.deleted) == (m.id, "thread.message.deleted", True)
    assert_not_found("message", m.id, client.beta.threads.messages.retrieve, m.id, thread_id=thread.id)
    assert client.beta.threads.messages.list(thread.id).data == []


def test_update_invalid_metadata_keeps_message(client, thread):
    m = add(client, thread.id, metadata={"a": "1"})
    assert_param(bad_request(client.beta.threads.messages.update, m.id, thread_id=thread.id,
                             metadata={"k": "v" * 513}), "metadata")
    assert dump(client.beta.threads.messages.retrieve(m.id, thread_id=thread.id)) == dump(m)


def test_unknown_message_is_404(client, thread):
    missing = "msg_doesnotexist"
    assert_not_found("message", missing, client.beta.threads.messages.retrieve, missing, thread_id=thread.id)
    assert_not_found("message", missing, client.beta.threads.messages.update, missing,
                     thread_id=thread.id, metadata={"a": "b"})
    assert_not_found("message", missing, client.beta.threads.messages.delete, missing, thread_id=thread.id)


def test_message_of_other_thread_is_404(client, thread):
    m = add(client, thread.id)
    other = client.beta.threads.create()
    assert_not_found("message", m.id, client.beta.threads.messages.retrieve, m.id, thread_id=other.id)
    assert client.beta.threads.messages.list(other.id).data == []


def test_list_filter_by_run_id(client, thread):
    m = add(client, thread.id)
    assert ids(client.beta.threads.messages.list(thread.id).data) == [m.id]
    assert client.beta.threads.messages.list(thread.id, run_id="run_doesnotexist").data == []
