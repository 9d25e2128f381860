"""Responses on the scripted model, through the strict openai client and the Node SDK's
ResponseStream: objects and events as the SDKs validate them, chains, store=false, function
calls chained and stateless, item references, and what is refused (400s naming the param)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Literal

import httpx
import openai
import pydantic
import pytest

from helpers import api_error
from tests.runs_helpers import clear_script, script, slow_reply

TOOLS = [{"type": "function", "name": "get_weather", "strict": True, "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
    "additionalProperties": False}}]
WEATHER_CALL = {"tool_calls": [{"type": "function", "function": {
    "name": "get_weather", "arguments": {"city": "Oslo"}}}]}


@pytest.fixture(scope="module")
def server(start_server):
    return start_server("responses", "--model", "scripted")


@pytest.fixture()
def client(server):
    clear_script(server)
    c = server.client()
    yield c
    c.close()


def test_a_plain_response_is_stored_and_retrievable(client, server):
    script(server, {"text": "Hi there, friend."})
    r = client.responses.create(model="gpt-4o", input="hello", instructions="Be brief.",
                                metadata={"app": "t"}, user="u1")
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.output_text == "Hi there, friend."
    (message,) = r.output
    assert message.id.startswith("msg_") and message.role == "assistant"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens == 3  # scripted: words
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.instructions == "Be brief." and r.metadata == {"app": "t"} and r.model == "gpt-4o"
    again = client.responses.retrieve(r.id)
    assert again.output_text == "Hi there, friend." and again.id == r.id
    (item,) = client.responses.input_items.list(r.id).data
    assert item.type == "message" and item.role == "user"
    assert item.content[0].text == "hello"


def test_a_chain_reads_the_earlier_turns_but_not_their_instructions(client, server):
    first = client.responses.create(model="gpt-4o", input="My name is Ada.",
                                    instructions="Answer in French.")
    script(server, {"text": "Your name is Ada."})
    second = client.responses.create(model="gpt-4o", input="What is my name?",
                                     previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.instructions is None
    assert second.output_text == "Your name is Ada."
    # What the model read: the first turn, its answer, then the new input.
    counted = client.responses.input_tokens.count(model="gpt-4o", input="What is my name?",
                                                   previous_response_id=first.id)
    alone = client.responses.input_tokens.count(model="gpt-4o", input="What is my name?")
    assert counted.input_tokens > alone.input_tokens > 0
    assert [i.content[0].text for i in client.responses.input_items.list(second.id)] == [
        "What is my name?"]


def test_store_false_is_not_retrievable_nor_chainable(client):
    r = client.responses.create(model="gpt-4o", input="secret", store=False)
    assert r.status == "completed" and r.store is False
    e = api_error(openai.NotFoundError, client.responses.retrieve, r.id)
    assert e.status_code == 404 and f"'{r.id}'" in e.message
    e = api_error(openai.NotFoundError, client.responses.create, model="gpt-4o", input="x",
                  previous_response_id=r.id)
    assert e.body["param"] == "previous_response_id"


def test_delete_removes_the_response(client):
    r = client.responses.create(model="gpt-4o", input="bye")
    client.responses.delete(r.id)
    api_error(openai.NotFoundError, client.responses.retrieve, r.id)
    api_error(openai.NotFoundError, client.responses.delete, r.id)
    api_error(openai.NotFoundError, client.responses.input_items.list, r.id)


def test_the_stream_follows_openais_order(client, server):
    script(server, {"text": "one two three"})
    with client.responses.stream(model="gpt-4o", input="count") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == final.output_text == "one two three"
    assert {e.response.id for e in events if hasattr(e, "response")} == {final.id}
    assert {e.item_id for e in events if hasattr(e, "item_id")} == {final.output[0].id}
    assert client.responses.retrieve(final.id).output_text == "one two three"


def test_raw_stream_ends_with_done(server):
    with httpx.stream("POST", f"{server.base_url}/responses", timeout=30, json={
            "model": "gpt-4o", "input": "hi", "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert lines[0] == "event: response.created"


def test_a_function_call_completes_the_response_and_the_answer_chains(client, server):
    script(server, WEATHER_CALL, {"text": "It is sunny in Oslo."})
    r = client.responses.create(model="gpt-4o", input="Weather in Oslo?", tools=TOOLS)
    assert r.status == "completed"
    (call,) = r.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.id.startswith("fc_") and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "Oslo"}
    assert r.tools[0].name == "get_weather" and r.tool_choice == "auto"
    answer = client.responses.create(
        model="gpt-4o", previous_response_id=r.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert answer.output_text == "It is sunny in Oslo."


def test_a_stateless_round_sends_the_call_back_as_input(client, server):
    """What store=false clients (Codex) do: the whole history as input items every turn."""
    script(server, WEATHER_CALL, {"text": "Sunny."})
    r = client.responses.create(model="gpt-4o", input="Weather?", tools=TOOLS, store=False)
    call = r.output[0]
    answer = client.responses.create(model="gpt-4o", tools=TOOLS, store=False, input=[
        {"role": "user", "content": "Weather?"}, call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert answer.output_text == "Sunny."


def test_an_output_without_its_call_is_refused(client):
    e = api_error(openai.BadRequestError, client.responses.create, model="gpt-4o", input=[
        {"type": "function_call_output", "call_id": "call_nope", "output": "x"}])
    assert "call_nope" in e.message and e.body["param"] == "input"


def test_item_references_resolve_stored_items(client, server):
    script(server, {"text": "Paris."})
    r = client.responses.create(model="gpt-4o", input="Capital of France?")
    script(server, {"text": "Yes."})
    again = client.responses.create(model="gpt-4o", input=[
        {"type": "item_reference", "id": r.output[0].id},
        {"role": "user", "content": "Sure?"}])
    assert again.output_text == "Yes."
    items = client.responses.input_items.list(again.id, order="asc").data
    assert [i.type for i in items] == ["message", "message"]
    assert items[0].id == r.output[0].id and items[0].content[0].text == "Paris."
    e = api_error(openai.NotFoundError, client.responses.create, model="gpt-4o",
                  input=[{"type": "item_reference", "id": "msg_missing"}])
    assert e.body["param"] == "input[0].id"


def test_max_output_tokens_ends_incomplete(client, server):
    script(server, {"text": "a b c d e f g h"})
    r = client.responses.create(model="gpt-4o", input="long", max_output_tokens=3)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.output[0].status == "incomplete" and r.output_text == "a b c "


def test_parse_fills_a_pydantic_model(client, server):
    class City(pydantic.BaseModel):
        name: str
        size: Literal["small", "large"]

    script(server, {"text": '{"name": "Oslo", "size": "large"}'})
    r = client.responses.parse(model="gpt-4o", input="A city?", text_format=City)
    assert r.output_parsed == City(name="Oslo", size="large")
    assert r.text.format.type == "json_schema"


def test_unknown_top_level_fields_are_accepted(server):
    """Codex sends client_metadata, which the SDK does not know; OpenAI accepts it."""
    r = httpx.post(f"{server.base_url}/responses", timeout=30, json={
        "model": "gpt-4o", "input": "hi", "client_metadata": {"x": 1}, "verbosity_hint": 2})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("kw, param", [
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "image_generation"}]}, "tools[0].type"),
    ({"tools": [{"type": "mcp", "server_label": "x", "server_url": "http://x"}]},
     "tools[0].type"),
    ({"tools": [{"type": "computer_use_preview", "display_height": 1, "display_width": 1,
                 "environment": "linux"}]}, "tools[0].type"),
    ({"tools": [{"type": "local_shell"}]}, "tools[0].type"),
    ({"input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}]}]},
     "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [
        {"type": "input_file", "file_url": "https://x/y.pdf"}]}]}, "input[0].content[0]"),
    ({"background": True, "store": False}, "store"),
    ({"conversation": "conv_x", "previous_response_id": "resp_x"}, "previous_response_id"),
    ({"tool_choice": {"type": "function", "name": "nope"}, "tools": TOOLS},
     "tool_choice.name"),
])
def test_what_cannot_be_served_is_a_400_naming_the_param(client, kw, param):
    body = {"model": "gpt-4o", "input": "hi", **kw}
    e = api_error(openai.BadRequestError, client.responses.create, **body)
    assert e.body["param"] == param, e.body


def test_cancel_is_only_for_background_responses(client):
    r = client.responses.create(model="gpt-4o", input="hi")
    e = api_error(openai.BadRequestError, client.responses.cancel, r.id)
    assert "background" in e.message
    api_error(openai.NotFoundError, client.responses.cancel, "resp_missing")


def test_the_node_sdk_stream_accepts_every_event(server):
    clear_script(server)
    script(server, {"text": "Hello from Node."}, WEATHER_CALL, {"text": "Sunny in Oslo."},
           {"text": "Done in the background."})
    node_dir = Path(__file__).resolve().parent / "node"
    out = subprocess.run(["node", str(node_dir / "responses.mjs"), server.base_url],
                         capture_output=True, text=True, timeout=120, cwd=node_dir)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert "".join(seen["deltas"]) == seen["text"] == "Hello from Node."
    assert seen["status"] == "completed" and seen["usage"]["output_tokens"] == 3
    assert seen["events"][0] == "response.created" and seen["events"][-1] == "response.completed"
    assert seen["call"]["name"] == "get_weather" and seen["call"]["status"] == "completed"
    assert json.loads(seen["call"]["arguments"]) == {"city": "Oslo"}
    assert seen["answer"] == "Sunny in Oslo."
    background = seen["background"]
    assert background["events"][:3] == ["response.created", "response.queued",
                                        "response.in_progress"]
    assert background["text"] == background["resumedText"] == "Done in the background."
    count = len(background["events"])
    assert background["resumed"] == list(range(4, count)) and background["status"] == "completed"


def test_a_conversation_holds_each_responses_input_and_output(client, server):
    conv = client.conversations.create(items=[{"role": "user", "content": "I like tea."}],
                                       metadata={"topic": "drinks"})
    script(server, {"text": "Noted: tea."}, thread_id=conv.id)
    r = client.responses.create(model="gpt-4o", input="Remember that.", conversation=conv.id)
    assert r.conversation.id == conv.id and r.output_text == "Noted: tea."
    script(server, {"text": "You like tea."}, thread_id=conv.id)
    counted = client.responses.input_tokens.count(model="gpt-4o", input="What do I like?",
                                                   conversation=conv.id)
    alone = client.responses.input_tokens.count(model="gpt-4o", input="What do I like?")
    assert counted.input_tokens > alone.input_tokens
    again = client.responses.create(model="gpt-4o", input="What do I like?",
                                    conversation={"id": conv.id})
    assert again.output_text == "You like tea."
    items = client.conversations.items.list(conv.id, order="asc").data
    assert [(i.type, i.role) for i in items] == [("message", "user")] + [
        ("message", "user"), ("message", "assistant")] * 2
    assert items[2].id == r.output[0].id and items[-1].id == again.output[0].id
    # Sending an item of the conversation again by reference does not add it twice.
    client.responses.create(model="gpt-4o", conversation=conv.id, input=[
        {"type": "item_reference", "id": items[0].id}, {"role": "user", "content": "Hm?"}])
    assert len(client.conversations.items.list(conv.id, limit=100).data) == len(items) + 2
    e = api_error(openai.BadRequestError, client.responses.create, model="gpt-4o",
                  conversation=conv.id, input=[{"role": "user", "content": "x",
                                                "id": items[0].id}])
    assert e.body["param"] == "input"
    api_error(openai.NotFoundError, client.responses.create, model="gpt-4o", input="x",
              conversation="conv_missing")


def test_one_response_at_a_time_per_conversation(client, server):
    conv = client.conversations.create()
    script(server, slow_reply(words=100, delay_ms=20), thread_id=conv.id)
    with client.responses.stream(model="gpt-4o", input="go", conversation=conv.id) as first:
        next(iter(first))  # the first response has started
        e = api_error(openai.BadRequestError, client.responses.create, model="gpt-4o",
                      input="also", conversation=conv.id)
        assert e.body["param"] == "conversation" and conv.id in e.message
        final = first.get_final_response() if list(first) else None
    assert final is not None and final.status == "completed"
    assert client.responses.create(model="gpt-4o", input="now", conversation=conv.id).status \
        == "completed"


def test_an_assistant_serves_as_the_prompt(client, server):
    """airlock's extension: prompt.id may name an assistant (model, instructions, tools)."""
    asst = client.beta.assistants.create(
        model="gpt-4o", instructions="You help {{customer}} with the weather.",
        tools=[{"type": "function", "function": {k: v for k, v in TOOLS[0].items()
                                                 if k != "type"}}])
    script(server, WEATHER_CALL)
    r = client.responses.create(input="Weather in Oslo?", prompt={
        "id": asst.id, "variables": {"customer": {"type": "input_text", "text": "Ada"}}})
    assert r.instructions == "You help Ada with the weather." and r.model == "gpt-4o"
    assert r.prompt.id == asst.id and [t.name for t in r.tools] == ["get_weather"]
    assert r.output[0].type == "function_call" and r.output[0].name == "get_weather"
    e = api_error(openai.NotFoundError, client.responses.create, input="x",
                  prompt={"id": "asst_missing"})
    assert e.body["param"] == "prompt.id"
    # file_search without stores to search (a response has no tool_resources), and
    # code_interpreter (not in responses yet): 400s naming the prompt.
    for tool in ("file_search", "code_interpreter"):
        builtin = client.beta.assistants.create(model="gpt-4o", tools=[{"type": tool}])
        e = api_error(openai.BadRequestError, client.responses.create, input="x",
                      prompt={"id": builtin.id})
        assert tool in e.message and e.body["param"] == "prompt.id"


def test_a_custom_tool_call_carries_its_string_input(client, server):
    script(server, {"tool_calls": [{"type": "function", "function": {
        "name": "apply_patch", "arguments": {"input": "*** Begin Patch\n*** End Patch"}}}]})
    r = client.responses.create(model="gpt-4o", input="patch it", tools=[
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch"}])
    (call,) = r.output
    assert call.type == "custom_tool_call" and call.name == "apply_patch"
    assert call.input == "*** Begin Patch\n*** End Patch" and call.id.startswith("ctc_")
    script(server, {"text": "Patched."})
    done = client.responses.create(model="gpt-4o", previous_response_id=r.id, input=[
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "ok"}])
    assert done.output_text == "Patched."


def test_allowed_tools_offers_only_the_listed_ones(client, server):
    other = {**TOOLS[0], "name": "get_time"}
    script(server, {"tool_calls": [{"type": "function", "function": {
        "name": "get_time", "arguments": {"city": "Oslo"}}}]})
    # get_time is declared but not allowed: the scripted model cannot call it.
    e = client.responses.create(model="gpt-4o", input="x", tools=[TOOLS[0], other],
                                tool_choice={"type": "allowed_tools", "mode": "auto",
                                             "tools": [{"type": "function",
                                                        "name": "get_weather"}]})
    assert e.status == "failed" and "get_time" in e.error.message
    assert [t.name for t in e.tools] == ["get_weather", "get_time"]


def test_truncation_disabled_refuses_what_auto_drops(client):
    history = [{"role": "user", "content": "word " * 9000} for _ in range(4)]
    body = {"model": "gpt-4o", "input": [*history, {"role": "user", "content": "last"}]}
    e = api_error(openai.BadRequestError, client.responses.create, **body)
    assert e.body["code"] == "context_length_exceeded" and e.body["param"] == "input"
    assert client.responses.create(**body, truncation="auto").status == "completed"


def test_a_model_failure_mid_stream_closes_the_message_then_fails(client, server):
    script(server, {"text": "partial words", "error": "the model broke"})
    with client.responses.stream(model="gpt-4o", input="go") as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[-2:] == ["response.output_item.done", "response.failed"]
    assert events[-2].item.status == "incomplete"
    assert "the model broke" in events[-1].response.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))
    script(server, {"text": "x", "error": "again"})
    r = client.responses.create(model="gpt-4o", input="go")
    assert r.status == "failed" and r.error.code == "server_error"


def test_namespace_tools_are_offered_and_their_calls_name_the_namespace(client, server):
    """Codex groups tools in a namespace; a grammar-format custom tool (its apply_patch) is
    taken too, its grammar echoed."""
    script(server, WEATHER_CALL)
    grammar = {"type": "grammar", "syntax": "lark", "definition": 'start: "x"'}
    r = client.responses.create(model="gpt-4o", input="Weather?", tools=[
        {"type": "namespace", "name": "weather_v1", "description": "Weather tools",
         "tools": [TOOLS[0]]},
        {"type": "custom", "name": "apply_patch", "format": grammar}])
    (call,) = r.output
    assert call.name == "get_weather" and call.namespace == "weather_v1"
    assert r.tools[0].type == "namespace" and r.tools[1].format.type == "grammar"
    script(server, {"text": "Sunny."})
    answer = client.responses.create(model="gpt-4o", store=False, input=[
        {"role": "user", "content": "Weather?"}, call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert answer.output_text == "Sunny."


def test_compact_says_it_is_not_served(server):
    r = httpx.post(f"{server.base_url}/responses/compact", timeout=30,
                   json={"model": "gpt-4o", "input": "hi"})
    assert r.status_code == 400 and "truncation" in r.json()["error"]["message"]


def test_include_takes_the_apis_values_only(client):
    r = client.responses.create(model="gpt-4o", input="hi",
                                include=["message.output_text.logprobs"])
    assert client.responses.retrieve(r.id, include=["file_search_call.results"]).id == r.id
    assert client.responses.input_items.list(r.id, include=["reasoning.encrypted_content"]).data
    e = api_error(openai.BadRequestError, client.responses.create, model="gpt-4o", input="hi",
                  include=["everything"])
    assert e.body["param"] == "include" and "everything" in e.message
    e = api_error(openai.BadRequestError, client.responses.retrieve, r.id, include=["nope"])
    assert e.body["param"] == "include"
