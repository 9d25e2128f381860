"""Chat Completions on the scripted model, through the strict openai client: the shapes of
objects and chunks, tool round trips, n choices, and what is refused (400s naming the param)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Literal

import httpx
import openai
import pydantic
import pytest

from tests.runs_helpers import clear_script, script, slow_reply, wait_run


@pytest.fixture(scope="module")
def chat_server(start_server):
    return start_server("chat", "--model", "scripted")


@pytest.fixture()
def chat(chat_server):
    clear_script(chat_server)
    c = chat_server.client()
    yield c
    c.close()


def ask(chat, content="hello", **kw):
    return chat.chat.completions.create(model="gpt-4o-mini",
                                        messages=[{"role": "user", "content": content}], **kw)


def test_a_plain_reply_is_a_chat_completion(chat, chat_server):
    script(chat_server, {"text": "Hi there, friend."})
    r = ask(chat, user="u1", metadata={"app": "t"}, store=False)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    (choice,) = r.choices
    assert choice.message.content == "Hi there, friend."
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_a_stream_adds_up_to_the_reply_and_ends_with_usage(chat, chat_server):
    script(chat_server, {"text": "one two three four"})
    chunks = list(ask(chat, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_the_sdk_stream_helper_accumulates_the_completion(chat, chat_server):
    script(chat_server, {"text": "Streaming through the helper."})
    with chat.chat.completions.stream(
            model="scripted", messages=[{"role": "user", "content": "go"}]) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == final.choices[0].message.content == "Streaming through the helper."


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def test_a_tool_round_trip(chat, chat_server):
    script(chat_server,
           {"tool_calls": [{"type": "function",
                            "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
           {"text": "It is 3 degrees in Oslo."})
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    first = chat.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    messages += [choice.message,  # appended as returned, as apps do
                 {"role": "tool", "tool_call_id": call.id, "content": '{"celsius": 3}'}]
    second = chat.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "It is 3 degrees in Oslo."


def test_streamed_tool_calls_accumulate_in_the_helper(chat, chat_server):
    script(chat_server, {"tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]})
    with chat.chat.completions.stream(
            model="scripted", tools=[WEATHER],
            messages=[{"role": "user", "content": "Rome and Oslo?"}]) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Rome", "Oslo"]
    assert final.choices[0].finish_reason == "tool_calls"


def test_n_choices_each_have_their_index(chat, chat_server):
    script(chat_server, {"text": "first"}, {"text": "second"})
    r = ask(chat, n=2)
    assert [(c.index, c.message.content) for c in r.choices] == [(0, "first"), (1, "second")]


def test_max_tokens_ends_with_length(chat, chat_server):
    script(chat_server, {"text": "a b c d e f g h"})
    r = ask(chat, max_completion_tokens=3)
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == "a b c "


def test_with_nothing_queued_the_echo_keeps_the_json_format(chat, chat_server):
    """Found by the fuzz campaign: an echo under a JSON format used to fail the request (500)."""
    r = ask(chat, "I said this", response_format={"type": "json_object"})
    assert json.loads(r.choices[0].message.content) == {"echo": "You said: I said this"}

    class Pick(pydantic.BaseModel):
        label: Literal["yes", "no"]
        reason: str
        tags: list[str]
        score: float | None

    parsed = chat.chat.completions.parse(model="gpt-4o-mini", response_format=Pick,
                                         messages=[{"role": "user", "content": "pick"}])
    assert parsed.choices[0].message.parsed == Pick(label="yes", reason="You said: pick",
                                                    tags=[], score=0)


def test_a_client_that_leaves_a_stream_frees_the_model(chat, chat_server):
    script(chat_server, slow_reply(words=400, delay_ms=50), {"text": "next one"})
    stream = ask(chat, stream=True)
    next(iter(stream))
    stream.close()
    # The abandoned reply stops; the next request is answered from the queue's next reply.
    assert ask(chat).choices[0].message.content == "next one"


def test_a_chat_request_does_not_queue_behind_runs(chat, chat_server):
    """Runs wait in the run queue; a chat request goes straight to the model."""
    assistant = chat.beta.assistants.create(model="scripted")
    thread = chat.beta.threads.create()
    script(chat_server, slow_reply(words=400, delay_ms=50), thread_id=thread.id)
    run = chat.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    wait_run(chat, thread.id, run.id, lambda r: r.status == "in_progress")
    script(chat_server, {"text": "chat answer"})
    answer = ask(chat).choices[0].message.content
    status = chat.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status
    chat.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert answer == "chat answer"
    assert status == "in_progress"  # answered while the run was still generating


@pytest.mark.parametrize("kw, param", [
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]},
     "messages[0].content[0]"),
    ({"web_search_options": {}}, "web_search_options"),
    ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}},
     "modalities"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"messages": [{"role": "tool", "tool_call_id": "call_x", "content": "3"}]},
     "messages.[0].tool_call_id"),
    ({"messages": []}, "messages"),
    ({"temperature": 3}, "temperature"),
    ({"n": 0}, "n"),
    ({"logit_bias": {"abc": 1}}, "logit_bias"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
])
def test_what_cannot_be_served_is_a_400_naming_the_param(chat, kw, param):
    body = {"model": "scripted", "messages": [{"role": "user", "content": "x"}], **kw}
    with pytest.raises(openai.BadRequestError) as e:
        chat.chat.completions.create(**body)
    assert e.value.status_code == 400
    assert e.value.body["param"] == param, e.value.body


def test_unknown_fields_are_refused(chat_server):
    r = httpx.post(f"{chat_server.base_url}/chat/completions",
                   json={"model": "scripted", "messages": [{"role": "user", "content": "x"}],
                         "bogus": 1})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "bogus"


def test_strict_models_refuse_an_unknown_model(start_server):
    srv = start_server("chat-strict", "--model", "scripted", "--strict-models")
    with srv.client() as c, pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert e.value.body["code"] == "model_not_found"


def test_an_api_key_guards_chat(start_server):
    srv = start_server("chat-key", "--model", "scripted", "--api-key", "k1")
    with srv.client(api_key="wrong") as c, pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])


def test_the_node_sdk_streams_text_and_calls(chat_server):
    clear_script(chat_server)
    script(chat_server, {"text": "Hello from Node."}, {"tool_calls": [{"type": "function",
           "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]})
    node_dir = Path(__file__).resolve().parent / "node"
    out = subprocess.run(["node", str(node_dir / "chat.mjs"), chat_server.base_url],
                         capture_output=True, text=True, timeout=120, cwd=node_dir)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert "".join(seen["deltas"]) == seen["text"] == "Hello from Node."
    assert seen["usage"]["completion_tokens"] == 3
    (call,) = seen["calls"]
    assert call["function"]["name"] == "get_weather" and seen["finish"] == "tool_calls"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}
