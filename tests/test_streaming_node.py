"""The official Node SDK's AssistantStream over airlock's streams: it is stricter than Python's
(one open message at a time, a terminal run event required)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from runs_helpers import clear_script, script

NODE_DIR = Path(__file__).parent / "node"


def node_stream(server, assistant_id: str, thread_id: str) -> dict:
    out = subprocess.run(
        ["node", str(NODE_DIR / "stream.mjs"), server.base_url, assistant_id, thread_id],
        capture_output=True, text=True, timeout=120, cwd=NODE_DIR, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture()
def scripted(client, server):
    clear_script(server)
    yield client.beta.assistants.create(model="scripted")
    clear_script(server)


def test_node_assistant_stream_on_a_run(client, server, scripted):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    script(server, {"text": "Hello from the scripted model."}, thread_id=thread.id)
    seen = node_stream(server, scripted.id, thread.id)
    assert seen["ok"], seen
    assert seen["text"] == "Hello from the scripted model."
    assert seen["run"]["status"] == "completed"
    assert seen["events"][:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert seen["events"][-1] == "thread.run.completed"
    stored = client.beta.threads.runs.retrieve(seen["run"]["id"], thread_id=thread.id)
    assert stored.usage.total_tokens == seen["run"]["usage"]["total_tokens"]
    assert [m["text"] for m in seen["messages"]] == ["Hello from the scripted model."]


def test_node_create_and_run_stream(client, server, scripted):
    script(server, {"text": "A brand new thread."})
    seen = node_stream(server, scripted.id, "new")
    assert seen["ok"], seen
    assert seen["events"][0] == "thread.created"
    assert seen["text"] == "A brand new thread."
    assert client.beta.threads.retrieve(seen["run"]["thread_id"]).id == seen["run"]["thread_id"]


def test_node_sees_a_failed_run(client, server, scripted):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    script(server, {"text": "half", "error": "boom"}, thread_id=thread.id)
    seen = node_stream(server, scripted.id, thread.id)
    assert "thread.run.failed" in seen["events"]
    assert not seen["ok"] and "boom" in seen["error"]


def test_node_accumulates_a_function_call(client, server):
    clear_script(server)
    asst = client.beta.assistants.create(model="scripted", tools=[{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
    script(server, {"tool_calls": [{"type": "function", "function": {
        "name": "get_weather", "arguments": {"city": "Paris"}}}]}, thread_id=thread.id)
    seen = node_stream(server, asst.id, thread.id)
    assert seen["ok"], seen
    assert seen["run"]["status"] == "requires_action"
    assert seen["events"][-1] == "thread.run.requires_action"
    ((call_id, call),) = seen["calls"].items()
    assert call_id.startswith("call_") and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    stored = client.beta.threads.runs.retrieve(seen["run"]["id"], thread_id=thread.id)
    assert stored.required_action.submit_tool_outputs.tool_calls[0].id == call_id
    client.beta.threads.runs.cancel(stored.id, thread_id=thread.id)
