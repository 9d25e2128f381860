"""A server stopped and started again on the same data dir serves the same objects."""

from __future__ import annotations

import pytest

from helpers import dump, ids

BLOB = bytes(range(256)) * 64


@pytest.fixture(scope="module")
def restartable(start_server):
    return start_server("persist")


def snapshot(client, state):
    return {
        "assistant": dump(client.beta.assistants.retrieve(state["assistant"])),
        "thread": dump(client.beta.threads.retrieve(state["thread"])),
        "messages": [dump(m) for m in client.beta.threads.messages.list(state["thread"], order="asc")],
        "file": dump(client.files.retrieve(state["file"])),
        "content": client.files.content(state["file"]).content,
        "assistants": ids(client.beta.assistants.list(limit=100)),
        "files": ids(client.files.list()),
    }


def test_prints_base_url(restartable):
    assert restartable.base_url in restartable.stdout_path.read_text()


def test_state_survives_restart(restartable):
    with restartable.client() as c:
        f = c.files.create(file=("data.bin", BLOB, "application/octet-stream"), purpose="assistants")
        a = c.beta.assistants.create(
            model="gpt-4o", name="durable", instructions="persist", metadata={"k": "v"},
            tools=[{"type": "code_interpreter"}, {"type": "function", "function": {"name": "f1"}}],
            tool_resources={"code_interpreter": {"file_ids": [f.id]}},
        )
        t = c.beta.threads.create(metadata={"t": "1"}, messages=[
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi there"},
        ])
        c.beta.threads.messages.create(t.id, role="user", content="with file",
                                       attachments=[{"file_id": f.id, "tools": [{"type": "file_search"}]}])
        state = {"assistant": a.id, "thread": t.id, "file": f.id}
        before = snapshot(c, state)
    assert before["content"] == BLOB and len(before["messages"]) == 3

    restartable.restart()

    with restartable.client() as c:
        assert snapshot(c, state) == before
        # New writes after the restart land after the old ones.
        m = c.beta.threads.messages.create(t.id, role="user", content="after restart")
        assert ids(c.beta.threads.messages.list(t.id, order="asc"))[-1] == m.id
        assert len(set(ids(c.beta.threads.messages.list(t.id)))) == 4


def test_acknowledged_writes_survive_a_kill(restartable):
    with restartable.client() as c:
        t = c.beta.threads.create()
        sent = [c.beta.threads.messages.create(t.id, role="user", content=f"m{i}").id for i in range(20)]
        f = c.files.create(file=("k.bin", BLOB, "application/octet-stream"), purpose="assistants")

    restartable.crash()
    restartable.start()

    with restartable.client() as c:
        assert ids(c.beta.threads.messages.list(t.id, order="asc", limit=100)) == sent
        assert c.files.content(f.id).content == BLOB
