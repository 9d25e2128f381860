"""Helpers for run tests: queue scripted replies, wait for run states by polling the API."""

from __future__ import annotations

import time

import httpx

DEADLINE_S = 60.0


def script(server, *replies: dict, thread_id: str | None = None) -> None:
    body = {"replies": list(replies), **({"thread_id": thread_id} if thread_id else {})}
    r = httpx.post(f"{server.root_url}/airlock/v1/scripted/replies", json=body)
    assert r.status_code == 200, r.text


def clear_script(server) -> None:
    assert httpx.delete(f"{server.root_url}/airlock/v1/scripted/replies").status_code == 200


def wait_run(client, thread_id: str, run_id: str, until) -> object:
    """Polls the run until `until(run)` holds; polling a condition, with a deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if until(run):
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.status}"
        time.sleep(0.02)  # poll interval between GETs, not synchronisation


def reply_text(client, thread_id: str, run_id: str) -> str:
    msgs = client.beta.threads.messages.list(thread_id, run_id=run_id)
    assert len(msgs.data) == 1
    return msgs.data[0].content[0].text.value


def slow_reply(words: int = 200, delay_ms: int = 50) -> dict:
    return {"text": " ".join(f"w{i}" for i in range(words)), "delay_ms": delay_ms}


def wait_for_text(client, thread_id: str, run_id: str):
    """Polls until the run's message shows text (partial replies are persisted as they grow)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        msgs = client.beta.threads.messages.list(thread_id, run_id=run_id).data
        if msgs and msgs[0].content and msgs[0].content[0].text.value:
            return msgs[0]
        assert time.monotonic() < deadline, "no partial text appeared"
        time.sleep(0.02)  # poll interval between GETs, not synchronisation


def wait_response(client, response_id: str, until, seconds: float = DEADLINE_S):
    """Polls a (background) response until `until(response)` holds; a condition with a
    deadline."""
    deadline = time.monotonic() + seconds
    while True:
        r = client.responses.retrieve(response_id)
        if until(r):
            return r
        assert time.monotonic() < deadline, f"{response_id} stayed {r.status}"
        time.sleep(0.05)  # poll interval between GETs, not synchronisation
