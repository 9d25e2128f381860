"""Two working replicas and an API-only one on one PostgreSQL database: every object is the same
through each, runs stream and take tool outputs through a replica other than the one running
them, and a cancel reaches the replica that runs the turn."""

from __future__ import annotations

import json

import openai
import pytest
from cluster_fixtures import a, api, b, cluster  # noqa: F401  (fixtures)

from runs_helpers import script, slow_reply, wait_for_text

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def call(name, **arguments):
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.fixture(scope="module")
def clients(a, b, api):  # noqa: F811
    made = {name: srv.client() for name, srv in (("a", a), ("b", b), ("api", api))}
    yield made
    for c in made.values():
        c.close()


def test_objects_are_the_same_through_every_replica(clients):
    ca, cb, capi = clients["a"], clients["b"], clients["api"]
    asst = ca.beta.assistants.create(model="scripted", name="shared", metadata={"k": "1"})
    assert cb.beta.assistants.retrieve(asst.id).name == "shared"
    cb.beta.assistants.update(asst.id, metadata={"k": "2"})
    assert capi.beta.assistants.retrieve(asst.id).metadata == {"k": "2"}
    assert asst.id in [x.id for x in ca.beta.assistants.list(limit=100).data]

    thread = cb.beta.threads.create(messages=[{"role": "user", "content": "first"}])
    ca.beta.threads.messages.create(thread.id, role="user", content="second")
    texts = [m.content[0].text.value
             for m in capi.beta.threads.messages.list(thread.id, order="asc").data]
    assert texts == ["first", "second"]

    assert capi.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        ca.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        cb.beta.threads.messages.list(thread.id)


def test_a_run_streams_through_a_replica_that_does_not_run_it(clients, api):  # noqa: F811
    """`api` runs no workers: the turn runs on a or b, and every event, deltas included, reaches
    the stream on `api` in the contract's order."""
    c = clients["api"]
    asst = c.beta.assistants.create(model="scripted")
    thread = c.beta.threads.create(messages=[{"role": "user", "content": "count"}])
    words = " ".join(f"w{i}" for i in range(60))
    script(api, {"text": words, "delay_ms": 5}, thread_id=thread.id)
    names, text = [], ""
    with c.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
        for ev in stream:
            names.append(ev.event)
            if ev.event == "thread.message.delta":
                text += ev.data.delta.content[0].text.value
        final = stream.get_final_run()
    assert final.status == "completed"
    assert text == words
    deltas = names.count("thread.message.delta")
    assert deltas >= 10
    assert [n for n in names if n != "thread.message.delta"] == [
        "thread.run.created", "thread.run.queued", "thread.run.in_progress",
        "thread.run.step.created", "thread.run.step.in_progress",
        "thread.message.created", "thread.message.in_progress",
        "thread.message.completed", "thread.run.step.completed", "thread.run.completed"]
    first, last = names.index("thread.message.delta"), len(names) - names[::-1].index(
        "thread.message.delta") - 1
    assert names[first - 1] == "thread.message.in_progress"
    assert names[last + 1] == "thread.message.completed"
    (msg,) = clients["a"].beta.threads.messages.list(thread.id, run_id=final.id).data
    assert msg.content[0].text.value == words


def test_tool_outputs_through_another_replica(clients, a):  # noqa: F811
    ca, capi = clients["a"], clients["api"]
    asst = ca.beta.assistants.create(model="scripted", tools=[WEATHER])
    thread = ca.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])
    script(a, {"tool_calls": [call("get_weather", city="Paris")]},
           {"text": "It is sunny in Paris."}, thread_id=thread.id)
    run = ca.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                               poll_interval_ms=50)
    assert run.status == "requires_action"
    (tc,) = run.required_action.submit_tool_outputs.tool_calls
    assert json.loads(tc.function.arguments) == {"city": "Paris"}

    names, text = [], ""
    with capi.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=thread.id, run_id=run.id,
            tool_outputs=[{"tool_call_id": tc.id, "output": "sunny"}]) as stream:
        for ev in stream:
            names.append(ev.event)
            if ev.event == "thread.message.delta":
                text += ev.data.delta.content[0].text.value
        final = stream.get_final_run()
    assert final.status == "completed" and text == "It is sunny in Paris."
    assert names[:3] == ["thread.run.step.completed", "thread.run.queued", "thread.run.in_progress"]
    assert names[-1] == "thread.run.completed"
    steps = clients["b"].beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].function.output == "sunny"


def test_a_cancel_through_another_replica_stops_the_turn(clients, api):  # noqa: F811
    capi = clients["api"]
    asst = capi.beta.assistants.create(model="scripted")
    thread = capi.beta.threads.create(messages=[{"role": "user", "content": "long"}])
    script(api, slow_reply(words=2000, delay_ms=20), thread_id=thread.id)  # 40 s if not stopped
    run = capi.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    wait_for_text(capi, thread.id, run.id)
    capi.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    done = capi.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=50)
    assert done.status == "cancelled"
    (msg,) = capi.beta.threads.messages.list(thread.id, run_id=run.id).data
    # Stopped within a few tokens of the cancel, far from the 2000 words scripted.
    assert len(msg.content[0].text.value.split()) < 1000


def test_events_bigger_than_a_notification_still_stream(clients, api):  # noqa: F811
    """A run's snapshot carries its instructions: at 20 kB an event is over NOTIFY's 8000-byte
    payload, and crosses replicas through the overflow table instead."""
    c = clients["api"]
    long = "Follow these rules. " * 1000
    asst = c.beta.assistants.create(model="scripted", instructions=long)
    thread = c.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    script(api, {"text": "hello there"}, thread_id=thread.id)
    seen = {}
    with c.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
        for ev in stream:
            if ev.event.startswith("thread.run."):
                seen[ev.event] = ev.data
    assert seen["thread.run.in_progress"].instructions == long  # sent by the executing replica
    assert seen["thread.run.completed"].instructions == long
    assert seen["thread.run.completed"].status == "completed"
