"""The Vercel AI SDK (`ai` + `@ai-sdk/openai`, pinned in tests/node/package.json) against airlock's
/v1/responses: `openai(model)` is the SDK's Responses model. Each test queues scripted replies,
runs tests/node/ai_sdk.mjs STEP with the real SDK, and asserts on the JSON line it prints."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.runs_helpers import clear_script, script

NODE_DIR = Path(__file__).resolve().parent / "node"
WEATHER = {"city": "Oslo", "weather": "Sunny, 21 C"}  # what the script's tool returns


@pytest.fixture(scope="module")
def sdk_server(start_server):
    return start_server("ai_sdk", "--model", "scripted")


def run_step(server, step: str) -> dict:
    out = subprocess.run(["node", str(NODE_DIR / "ai_sdk.mjs"), server.base_url, step],
                         capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def call_then_answer(server, *follow_ups: str) -> None:
    clear_script(server)
    script(server, {"tool_calls": [{"type": "function", "function": {
        "name": "get_weather", "arguments": {"city": "Oslo"}}}]},
        {"text": "It is sunny in Oslo."}, *({"text": t} for t in follow_ups))


def test_generate_text_returns_the_reply(sdk_server):
    clear_script(sdk_server)
    script(sdk_server, {"text": "Hello from the AI SDK."})
    seen = run_step(sdk_server, "generate")
    assert seen["text"] == "Hello from the AI SDK." and seen["finishReason"] == "stop"
    assert seen["usage"]["outputTokens"] == 5 and seen["usage"]["inputTokens"] > 0
    assert seen["responseId"].startswith("resp_")


def test_stream_text_adds_up_to_the_reply(sdk_server):
    clear_script(sdk_server)
    script(sdk_server, {"text": "one two three four"})
    seen = run_step(sdk_server, "stream")
    assert len(seen["deltas"]) == 4
    assert "".join(seen["deltas"]) == seen["text"] == "one two three four"
    assert seen["finishReason"] == "stop" and seen["usage"]["outputTokens"] == 4


def test_stream_text_streams_a_tool_call_then_the_answer(sdk_server):
    call_then_answer(sdk_server)
    seen = run_step(sdk_server, "stream_tool")
    assert seen["executed"] == [{"city": "Oslo"}] and seen["steps"] == ["tool-calls", "stop"]
    parts = seen["parts"]
    # The call's arguments streamed in, the SDK ran the tool, then the answer streamed word by word.
    assert parts.index("tool-input-start") < parts.index("tool-input-delta") < \
        parts.index("tool-call") < parts.index("tool-result") < parts.index("text-start")
    assert parts.count("text-delta") == 5 and seen["text"] == "It is sunny in Oslo."
    assert parts[-1] == "finish"


def check_tool_round_trip(seen: dict) -> None:
    # The SDK parsed the scripted call, ran the tool's execute with its arguments and sent the
    # output back in a second request, whose reply is the final answer.
    assert seen["executed"] == [{"city": "Oslo"}]
    first, second = seen["steps"]
    assert first["finishReason"] == "tool-calls"
    assert first["toolCalls"] == [{"toolName": "get_weather", "input": {"city": "Oslo"}}]
    assert first["toolResults"] == [{"toolName": "get_weather", "output": WEATHER}]
    assert second["finishReason"] == "stop" and second["toolCalls"] == []
    call, output = second["input"][-2:]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert output == {"type": "function_call_output", "call_id": call["call_id"],
                      "output": json.dumps(WEATHER, separators=(",", ":"))}
    assert seen["text"] == "It is sunny in Oslo."


def test_a_tool_round_trip_then_a_follow_up_by_item_reference(sdk_server):
    call_then_answer(sdk_server, "Tomorrow too.")
    seen = run_step(sdk_server, "tool")
    check_tool_round_trip(seen)
    # The follow-up turn resends the history; with store on (the SDK's default) it names the
    # earlier answer by id, and airlock resolves that against the stored response's items.
    follow = seen["followUp"]
    assert follow["text"] == "Tomorrow too."
    refs = [item for item in follow["input"] if item.get("type") == "item_reference"]
    assert len(refs) == 1 and refs[0]["id"].startswith("msg_")
    items = httpx.get(f"{sdk_server.base_url}/responses/{follow['responseId']}/input_items",
                      params={"order": "asc"}).json()["data"]
    assert [i["type"] for i in items] == ["message", "function_call", "function_call_output",
                                          "message", "message"]
    answer = items[3]
    assert answer["id"] == refs[0]["id"] and answer["role"] == "assistant"
    assert answer["content"][0]["text"] == "It is sunny in Oslo."
    assert items[4]["content"][0]["text"] == "And tomorrow?"


def test_a_stateless_tool_round_trip_sends_items_in_full(sdk_server):
    call_then_answer(sdk_server, "Tomorrow is rainy.")
    seen = run_step(sdk_server, "tool_stateless")
    check_tool_round_trip(seen)
    follow = seen["followUp"]
    assert follow["text"] == "Tomorrow is rainy."
    assert not [item for item in follow["input"] if item.get("type") == "item_reference"]
    (answer,) = [item for item in follow["input"] if item.get("role") == "assistant"]
    assert answer["content"] == [{"type": "output_text", "text": "It is sunny in Oslo."}]
    # store: false keeps nothing: none of the turn's responses can be fetched.
    for response_id in [s["responseId"] for s in seen["steps"]] + [follow["responseId"]]:
        assert httpx.get(f"{sdk_server.base_url}/responses/{response_id}").status_code == 404
