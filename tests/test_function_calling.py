"""Function calling on the scripted model: requires_action, submit_tool_outputs, streams."""

from __future__ import annotations

import json

import pytest
from openai import AssistantEventHandler

from helpers import bad_request
from runs_helpers import clear_script, script, wait_run

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


@pytest.fixture()
def assistant(client, server):
    clear_script(server)
    yield client.beta.assistants.create(model="scripted", tools=[WEATHER, TIME])
    clear_script(server)


def call(name, **arguments):
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def thread_with(client, text="What's the weather in Paris?"):
    return client.beta.threads.create(messages=[{"role": "user", "content": text}])


def test_requires_action_then_outputs_then_answer(client, server, assistant):
    thread = thread_with(client)
    script(server, {"tool_calls": [call("get_weather", city="Paris")]},
           {"text": "It is sunny in Paris."}, thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action" and run.expires_at is not None
    (tc,) = run.required_action.submit_tool_outputs.tool_calls
    assert tc.id.startswith("call_") and tc.type == "function"
    assert tc.function.name == "get_weather" and json.loads(tc.function.arguments) == {"city": "Paris"}
    (step,) = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.type == "tool_calls" and step.status == "in_progress"
    assert step.step_details.tool_calls[0].function.output is None

    queued = client.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": tc.id, "output": "sunny, 24C"}])
    assert queued.status == "queued" and queued.required_action is None
    done = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert done.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].status == "completed"
    assert steps[0].step_details.tool_calls[0].function.output == "sunny, 24C"
    (msg,) = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert msg.content[0].text.value == "It is sunny in Paris."
    assert done.usage.total_tokens == sum(s.usage.total_tokens for s in steps)


def test_the_model_sees_the_outputs(client, server, assistant):
    thread = thread_with(client)
    script(server, {"tool_calls": [call("get_weather", city="Oslo")]}, thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    tc = run.required_action.submit_tool_outputs.tool_calls[0]
    first_prompt = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0].usage.prompt_tokens
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": tc.id, "output": "snow and wind, minus five degrees"}])
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    # The answering turn's prompt holds the call and its output on top of the first prompt.
    assert steps[1].usage.prompt_tokens > first_prompt + 10


def test_parallel_calls_must_all_be_answered_once(client, server, assistant):
    thread = thread_with(client, "Weather in Rome and the time?")
    script(server, {"tool_calls": [call("get_weather", city="Rome"), call("get_time")]},
           thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2

    body = bad_request(client.beta.threads.runs.submit_tool_outputs, run.id, thread_id=thread.id,
                       tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}])
    assert body["param"] == "tool_outputs" and calls[1].id in body["message"]
    body = bad_request(client.beta.threads.runs.submit_tool_outputs, run.id, thread_id=thread.id,
                       tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"},
                                     {"tool_call_id": calls[0].id, "output": "y"}])
    assert body["param"] == "tool_outputs"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "requires_action"

    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": c.id, "output": "ok"} for c in calls])
    assert run.status == "completed"
    body = bad_request(client.beta.threads.runs.submit_tool_outputs, run.id, thread_id=thread.id,
                       tool_outputs=[{"tool_call_id": calls[0].id, "output": "late"}])
    assert "completed" in body["message"]


def test_parallel_tool_calls_false_allows_one_call(client, server, assistant):
    thread = thread_with(client)
    script(server, {"tool_calls": [call("get_weather", city="Rome"), call("get_time")]},
           thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   parallel_tool_calls=False)
    assert run.parallel_tool_calls is False
    assert len(run.required_action.submit_tool_outputs.tool_calls) == 1


def test_multi_round_calls(client, server, assistant):
    thread = thread_with(client)
    script(server, {"tool_calls": [call("get_time")]},
           {"tool_calls": [call("get_weather", city="Lima")]},
           {"text": "Done."}, thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    for expected in ("get_time", "get_weather"):
        (tc,) = run.required_action.submit_tool_outputs.tool_calls
        assert tc.function.name == expected
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": tc.id, "output": "1"}])
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "tool_calls", "message_creation"]


def test_tool_choice_none_never_calls(client, server, assistant):
    thread = thread_with(client)
    script(server, {"tool_calls": [call("get_time")], "text": "No tools for me."}, thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   tool_choice="none")
    assert run.status == "completed" and run.tool_choice == "none"


def test_tool_choice_must_name_an_offered_function(client, server, assistant):
    thread = thread_with(client)
    body = bad_request(client.beta.threads.runs.create, thread_id=thread.id,
                       assistant_id=assistant.id,
                       tool_choice={"type": "function", "function": {"name": "nope"}})
    assert body["param"] == "tool_choice"


def test_unanswered_calls_expire(start_server):
    server = start_server("tool-expiry", env={"AIRLOCK_RUN_EXPIRES_AFTER_S": "2"})
    with server.client() as c:
        asst = c.beta.assistants.create(model="scripted", tools=[WEATHER])
        thread = thread_with(c)
        script(server, {"tool_calls": [call("get_weather", city="Paris")]}, thread_id=thread.id)
        run = c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
        assert run.status == "requires_action"
        run = wait_run(c, thread.id, run.id, lambda r: r.status != "requires_action")
        assert run.status == "expired" and run.required_action is None
        (step,) = c.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
        assert step.status == "expired"


class CookbookHandler(AssistantEventHandler):
    """As the cookbook's weather example: answer requires_action from on_event, streaming."""

    def __init__(self, client, text):
        super().__init__()
        self.client, self.text, self.events = client, text, []

    def on_event(self, event):
        self.events.append(event.event)
        if event.event == "thread.run.requires_action":
            run_id = event.data.id
            outputs = [{"tool_call_id": tc.id, "output": "57"}
                       for tc in event.data.required_action.submit_tool_outputs.tool_calls]
            with self.client.beta.threads.runs.submit_tool_outputs_stream(
                    thread_id=self.current_run.thread_id, run_id=run_id, tool_outputs=outputs,
                    event_handler=self.text) as stream:
                stream.until_done()


class TextCollector(AssistantEventHandler):
    def __init__(self):
        super().__init__()
        self.values, self.events = [], []

    def on_event(self, event):
        self.events.append(event.event)

    def on_text_delta(self, delta, snapshot):
        self.values.append(delta.value)


def test_streaming_function_flow_like_the_cookbook(client, server, assistant):
    thread = thread_with(client)
    script(server, {"tool_calls": [call("get_weather", city="Paris")]},
           {"text": "It is 57 degrees."}, thread_id=thread.id)
    text = TextCollector()
    handler = CookbookHandler(client, text)
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         event_handler=handler) as stream:
        stream.until_done()
        snapshot = stream.get_final_run()
    assert handler.events[:5] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
                                  "thread.run.step.created", "thread.run.step.in_progress"]
    assert handler.events[5:7] == ["thread.run.step.delta", "thread.run.step.delta"]
    assert handler.events[-1] == "thread.run.requires_action"
    assert snapshot.status == "requires_action"
    # The accumulated step: identity fields once, arguments whole.
    tc = stream.current_run_step_snapshot.step_details.tool_calls[0]
    assert tc.id.startswith("call_") and tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "Paris"}

    assert text.events[:3] == ["thread.run.step.completed", "thread.run.queued", "thread.run.in_progress"]
    assert text.events[-1] == "thread.run.completed"
    assert "".join(text.values) == "It is 57 degrees."
    run = client.beta.threads.runs.retrieve(snapshot.id, thread_id=thread.id)
    assert run.status == "completed"
