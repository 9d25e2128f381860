"""Well-behaved turns whatever the model does (scripted, so each misbehaviour is exact): loops
stop, duplicate and repeated calls are not made, file_search also searches the question."""

from __future__ import annotations

import json

import pytest
from openai import AssistantEventHandler

from fs_helpers import PENGUINS, VOLCANO, ZORBLAX, ready_store
from runs_helpers import clear_script, reply_text, script

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}}}
BIRDS = b"Arctic terns migrate from pole to pole every year, the longest migration known."
LOOP = ("You are welcome! Your generosity is a wonderful gift. "
        + "Your generosity is a wonderful gift. " * 8 + "Bye.")


def weather(city: str) -> dict:
    return {"type": "function", "function": {"name": "get_weather", "arguments": {"city": city}}}


@pytest.fixture()
def assistant(fs_server, fs_client):
    clear_script(fs_server)
    yield fs_client.beta.assistants.create(model="scripted", tools=[WEATHER])
    clear_script(fs_server)


def test_a_looping_reply_stops_and_keeps_no_repeat(fs_server, fs_client, assistant):
    thread = fs_client.beta.threads.create(messages=[{"role": "user", "content": "Thank you!"}])
    script(fs_server, {"text": LOOP}, thread_id=thread.id)
    deltas: list[str] = []

    class Handler(AssistantEventHandler):
        def on_text_delta(self, delta, snapshot):
            deltas.append(delta.value)

    with fs_client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                            event_handler=Handler()) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "completed" and run.incomplete_details is None
    text = reply_text(fs_client, thread.id, run.id)
    assert text == "You are welcome! Your generosity is a wonderful gift."
    assert "".join(deltas) == text  # the stream never showed a repeat
    fs_server.wait_for_log(f"run {run.id}: the loop guard stopped")


def test_identical_calls_in_one_turn_are_made_once(fs_server, fs_client, assistant):
    thread = fs_client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    script(fs_server, {"tool_calls": [weather("Oslo"), weather("Oslo"), weather("Rome")]},
           thread_id=thread.id)
    run = fs_client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                      assistant_id=assistant.id)
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Oslo", "Rome"]


def test_a_named_tool_choice_makes_exactly_one_call(fs_server, fs_client, assistant):
    thread = fs_client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    script(fs_server, {"tool_calls": [weather("Oslo"), weather("Rome")]}, thread_id=thread.id)
    run = fs_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert len(run.required_action.submit_tool_outputs.tool_calls) == 1


def test_a_call_already_answered_is_not_made_again(fs_server, fs_client, assistant):
    """The cookbook flow: answer tool_calls[0], poll to completed, even when the model then
    repeats the same call."""
    thread = fs_client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    script(fs_server, {"tool_calls": [weather("Oslo")]}, {"tool_calls": [weather("Oslo")]},
           {"text": "It is cold in Oslo."}, thread_id=thread.id)
    run = fs_client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                      assistant_id=assistant.id)
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    run = fs_client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "-3 C"}])
    assert run.status == "completed"
    assert reply_text(fs_client, thread.id, run.id) == "It is cold in Oslo."


def test_file_search_also_searches_the_question(fs_server, fs_client):
    store, files = ready_store(fs_client, {
        "zorblax.txt": ZORBLAX, "penguins.md": PENGUINS, "volcano.html": VOLCANO, "birds.txt": BIRDS,
        "tea.txt": b"Green tea contains caffeine and antioxidants and is brewed at 80 degrees."})
    # Two results: searched alone, "penguins" ranks penguins.md and birds.txt first.
    assistant = fs_client.beta.assistants.create(
        model="scripted", tools=[{"type": "file_search", "file_search": {"max_num_results": 2}}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = fs_client.beta.threads.create(messages=[
        {"role": "user", "content": "Who invented the Zorblax engine?"}])
    # A weak query from the model, about something else entirely.
    script(fs_server, {"tool_calls": [{"type": "file_search", "file_search": {
        "query": "penguins"}}]}, {"text": "Mira Tell."}, thread_id=thread.id)
    run = fs_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id,
        include=["step_details.tool_calls[*].file_search.results[*].content"])
    assert run.status == "completed"
    step = fs_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    found = {r.file_name for r in step.step_details.tool_calls[0].file_search.results}
    assert "zorblax.txt" in found
