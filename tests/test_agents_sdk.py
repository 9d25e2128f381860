"""The OpenAI Agents SDK (openai-agents, which needs openai 3.x) against airlock's Responses and
Conversations APIs, set up as its docs say for a custom server. It runs in a venv of its own
(scripts/install.sh) as a small app in a subprocess (tests/clients/agents_app.py): function
tools, streaming, multi-turn runs (items sent back whole, `previous_response_id`, a server
conversation, `OpenAIConversationsSession`) on the scripted model, whose answers are scripted
(the server's stored responses and conversation items show what the model read); on the real
model an agent answers, gives a structured output, and calls its tool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.runs_helpers import clear_script, script

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".cache" / "agents" / "bin" / "python"
APP = ROOT / "tests" / "clients" / "agents_app.py"
WEATHER_CALL = {"tool_calls": [{"type": "function", "function": {
    "name": "get_weather", "arguments": {"city": "Oslo"}}}]}
# Anything but airlock goes to a closed port: an app that reached for the network (the SDK's
# trace export to api.openai.com) would say so on stderr.
OFFLINE_ENV = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1,localhost",
               "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


@pytest.fixture(scope="module")
def scripted(start_server):
    return start_server("agents", "--model", "scripted")


@pytest.fixture()
def api(scripted):
    """The strict openai client of the main venv, to read what the server stored."""
    clear_script(scripted)
    c = scripted.client()
    yield c
    c.close()


def run_agents_app(base_url: str, step: str, arg: str = "") -> dict:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: run scripts/install.sh --test", pytrace=False)
    done = subprocess.run([str(PYTHON), str(APP), base_url, step, arg], capture_output=True,
                          text=True, timeout=300, env=OFFLINE_ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trac" not in done.stderr.lower(), done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_function_tool_gets_the_scripted_arguments(scripted, api):
    script(scripted, WEATHER_CALL, {"text": "It is 3 degrees in Oslo."})
    out = run_agents_app(scripted.base_url, "tool")
    assert out["calls"] == [{"city": "Oslo"}]
    assert out["final"] == "It is 3 degrees in Oslo."
    assert out["items"] == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert out["usage"]["requests"] == 2
    # The second request carried the call and the tool's output back to the model.
    call, answer = out["response_ids"]
    (fc,) = api.responses.retrieve(call).output
    assert fc.type == "function_call" and json.loads(fc.arguments) == {"city": "Oslo"}
    read = api.responses.input_items.list(answer, order="asc").data
    assert [i.type for i in read] == ["message", "function_call", "function_call_output"]
    assert read[1].call_id == read[2].call_id == fc.call_id
    assert read[2].output == "3 degrees in Oslo"


def test_a_streamed_run_yields_the_text_as_deltas(scripted, api):
    script(scripted, {"text": "one two three"})
    out = run_agents_app(scripted.base_url, "stream")
    assert len(out["deltas"]) == 3
    assert "".join(out["deltas"]) == out["final"] == "one two three"
    assert api.responses.retrieve(out["response_id"]).output_text == "one two three"


def test_a_streamed_run_calls_the_tool(scripted, api):
    script(scripted, WEATHER_CALL, {"text": "It is 3 degrees in Oslo."})
    out = run_agents_app(scripted.base_url, "stream_tool")
    assert out["calls"] == [{"city": "Oslo"}]
    assert out["final"] == "It is 3 degrees in Oslo."
    events = out["events"]
    assert "response.function_call_arguments.done" in events
    assert events.count("response.completed") == 2
    # The run items arrive in order: the call, its output, then the answer.
    assert [e for e in events if not e.startswith("response.")] == [
        "tool_called", "tool_output", "message_output_created"]


def test_a_chain_on_previous_response_id_reads_the_first_turn(scripted, api):
    script(scripted, {"text": "Nice to meet you, Ada."}, {"text": "Your name is Ada."})
    out = run_agents_app(scripted.base_url, "chain")
    assert out["finals"] == ["Nice to meet you, Ada.", "Your name is Ada."]
    first, second = out["response_ids"]
    stored = api.responses.retrieve(second)
    assert stored.previous_response_id == first
    # Only the new input was sent; the server added the first turn to what the model read.
    assert [i.content[0].text for i in api.responses.input_items.list(second).data] == [
        "What is my name?"]
    alone = api.responses.input_tokens.count(model="gpt-4o-mini", input="What is my name?",
                                             instructions="You are a helpful assistant. Be brief.")
    assert out["usage"][1]["input_tokens"] == stored.usage.input_tokens > alone.input_tokens


def test_the_first_runs_items_sent_back_whole_are_read(scripted, api):
    script(scripted, WEATHER_CALL, {"text": "It is 3 degrees in Oslo."},
           {"text": "Yes, take a coat."})
    out = run_agents_app(scripted.base_url, "input_list")
    assert out["calls"] == [{"city": "Oslo"}]
    assert out["finals"] == ["It is 3 degrees in Oslo.", "Yes, take a coat."]
    # The call and the answer went back with the ids the server gave them; the server read
    # them as the items they are.
    read = api.responses.input_items.list(out["response_ids"][1], order="asc").data
    assert [i.type for i in read] == ["message", "function_call", "function_call_output",
                                      "message", "message"]
    assert json.loads(read[1].arguments) == {"city": "Oslo"}
    assert read[2].output == "3 degrees in Oslo"
    assert [read[3].role, read[3].content[0].text] == ["assistant", "It is 3 degrees in Oslo."]
    assert read[4].content[0].text == "Should I take a coat?"


def test_runs_on_a_server_conversation_append_to_it(scripted, api):
    script(scripted, WEATHER_CALL, {"text": "It is 3 degrees in Oslo."},
           {"text": "Yes, take a coat."})
    out = run_agents_app(scripted.base_url, "conversation")
    assert out["calls"] == [{"city": "Oslo"}]
    assert out["finals"] == ["It is 3 degrees in Oslo.", "Yes, take a coat."]
    listed = api.conversations.items.list(out["conversation_id"], order="asc").data
    assert [(i.type, getattr(i, "role", None)) for i in listed] == [
        ("message", "user"), ("function_call", None), ("function_call_output", None),
        ("message", "assistant"), ("message", "user"), ("message", "assistant")]
    assert listed[4].content[0].text == "Should I take a coat?"
    assert listed[5].content[0].text == "Yes, take a coat."
    # Each response sent only its new input; the conversation gave the model the rest.
    second = api.responses.retrieve(out["response_ids"][1])
    assert second.conversation.id == out["conversation_id"]
    assert [i.content[0].text for i in api.responses.input_items.list(second.id).data] == [
        "Should I take a coat?"]


def test_a_conversations_session_keeps_both_runs_in_order(scripted, api):
    script(scripted, WEATHER_CALL, {"text": "It is 3 degrees in Oslo."},
           {"text": "Yes, take a coat."})
    out = run_agents_app(scripted.base_url, "session")
    assert out["calls"] == [{"city": "Oslo"}]
    assert out["finals"] == ["It is 3 degrees in Oslo.", "Yes, take a coat."]
    first_run = [
        {"type": "message", "role": "user", "text": "What is the weather in Oslo?"},
        {"type": "function_call", "name": "get_weather", "arguments": {"city": "Oslo"}},
        {"type": "function_call_output", "output": "3 degrees in Oslo"},
        {"type": "message", "role": "assistant", "text": "It is 3 degrees in Oslo."}]
    second_user = {"type": "message", "role": "user", "text": "Should I take a coat?"}
    assert out["items"] == [*first_run, second_user,
                            {"type": "message", "role": "assistant", "text": "Yes, take a coat."}]
    # The conversation holds them too, in that order, as another client lists them.
    conv = out["conversation_id"]
    listed = api.conversations.items.list(conv, order="asc").data
    assert [i.type for i in listed] == [i["type"] for i in out["items"]]
    # The second run's response read the whole first run, then the new question.
    read = api.responses.input_items.list(out["response_ids"][1], order="asc").data
    assert [i.type for i in read] == [i["type"] for i in [*first_run, second_user]]
    assert read[0].content[0].text == "What is the weather in Oslo?"
    assert read[-1].content[0].text == "Should I take a coat?"


def assert_plain_text(text) -> None:
    assert isinstance(text, str) and text.strip()
    for markup in ("<|", "|>", "im_start", "im_end", "</s>", "<tool_call>"):
        assert markup not in text, text


@pytest.mark.slow
def test_the_hosted_file_search_tool_runs_offline(scripted, api):
    from fs_helpers import ZORBLAX, ready_store

    store, files = ready_store(api, {"zorblax.txt": ZORBLAX})
    script(scripted, {"tool_calls": [{"type": "file_search", "file_search": {
        "query": "Zorblax inventor"}}]}, {"text": "Mira Tell 【0:0†zorblax.txt】."})
    out = run_agents_app(scripted.base_url, "file_search", store.id)
    assert out["final"] == "Mira Tell."
    assert out["items"] == ["tool_call_item", "message_output_item"]
    call, message = api.responses.retrieve(out["response_id"]).output
    assert call.type == "file_search_call" and call.results[0].filename == "zorblax.txt"
    assert message.content[0].annotations[0].file_id == files["zorblax.txt"].id


def test_the_code_interpreter_tool_runs_offline_in_a_container(scripted, api):
    script(scripted, {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {
        "input": "print(6 * 7)"}}]}, {"text": "It is 42."})
    out = run_agents_app(scripted.base_url, "code_interpreter")
    assert out["final"] == "It is 42."
    assert out["items"] == ["tool_call_item", "message_output_item"]
    assert "response.code_interpreter_call_code.done" in out["events"]
    (call, _) = api.responses.retrieve(out["response_id"]).output
    assert call.type == "code_interpreter_call" and call.code == "print(6 * 7)"
    assert api.containers.retrieve(call.container_id).status == "running"


def test_an_agent_answers_on_the_real_model(server, client):
    out = run_agents_app(server.base_url, "real")
    text = out["final"]
    assert_plain_text(text)
    stored = client.responses.retrieve(out["response_id"])
    assert stored.status == "completed" and stored.output_text == text


@pytest.mark.slow
def test_a_structured_output_type_parses_on_the_real_model(server):
    city = run_agents_app(server.base_url, "real_structured")["final"]
    assert set(city) == {"name", "country"} and all(isinstance(v, str) for v in city.values())


@pytest.mark.slow
def test_an_agent_calls_its_tool_on_the_real_model(server):
    out = run_agents_app(server.base_url, "real_tool")
    # The first turn must call (tool_choice "required"); later turns may call again.
    assert out["calls"] and all(set(c) == {"city"} and c["city"].strip() for c in out["calls"])
    assert out["items"][:2] == ["tool_call_item", "tool_call_output_item"]
    assert out["items"][-1] == "message_output_item"
    assert_plain_text(out["final"])
