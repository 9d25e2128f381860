"""Run lifecycle on the scripted model: exact replies, states, limits, cancel, conflicts."""

from __future__ import annotations

import pytest

from helpers import assert_recent, bad_request
from runs_helpers import clear_script, reply_text, script, slow_reply, wait_for_text, wait_run


@pytest.fixture()
def scripted(client, server):
    clear_script(server)
    asst = client.beta.assistants.create(model="scripted", instructions="Be exact.")
    yield asst
    clear_script(server)


def new_thread(client, *texts: str):
    return client.beta.threads.create(messages=[{"role": "user", "content": t} for t in texts])


def test_run_completes_with_the_scripted_reply(client, server, scripted):
    thread = new_thread(client, "What is two plus two?")
    script(server, {"text": "Two plus two is four."})
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id)

    assert run.status == "completed"
    assert run.model == "scripted" and run.instructions == "Be exact."
    assert_recent(run.started_at) and assert_recent(run.completed_at)
    assert run.expires_at is None and run.failed_at is None and run.last_error is None
    assert run.usage.prompt_tokens > 0 and run.usage.completion_tokens > 0
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens

    msgs = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert [m.content[0].text.value for m in msgs] == ["Two plus two is four."]
    assert msgs[0].role == "assistant" and msgs[0].status == "completed"
    assert msgs[0].assistant_id == scripted.id and msgs[0].run_id == run.id

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert len(steps) == 1 and steps[0].type == "message_creation"
    assert steps[0].status == "completed"
    assert steps[0].step_details.message_creation.message_id == msgs[0].id
    assert steps[0].usage.total_tokens == run.usage.total_tokens
    again = client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=thread.id, run_id=run.id)
    assert again == steps[0]


def test_run_get_sets_the_poll_header(raw, client, server, scripted):
    thread = new_thread(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id)
    r = raw.get(f"/threads/{thread.id}/runs/{run.id}", headers={"OpenAI-Beta": "assistants=v2"})
    assert int(r.headers["openai-poll-after-ms"]) > 0


def test_empty_queue_echoes_the_last_user_message(client, server, scripted):
    thread = new_thread(client, "first", "echo me")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id)
    assert reply_text(client, thread.id, run.id) == "You said: echo me"


def test_thread_replies_come_before_global_ones(client, server, scripted):
    a, b = new_thread(client, "a"), new_thread(client, "b")
    script(server, {"text": "global"})
    script(server, {"text": "for b"}, thread_id=b.id)
    run_b = client.beta.threads.runs.create_and_poll(thread_id=b.id, assistant_id=scripted.id)
    run_a = client.beta.threads.runs.create_and_poll(thread_id=a.id, assistant_id=scripted.id)
    assert reply_text(client, b.id, run_b.id) == "for b"
    assert reply_text(client, a.id, run_a.id) == "global"


def test_multi_turn_thread_keeps_history(client, server, scripted):
    thread = new_thread(client, "one")
    script(server, {"text": "reply one"}, {"text": "reply two"})
    first = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id)
    client.beta.threads.messages.create(thread.id, role="user", content="two")
    second = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id)
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id, order="asc")]
    assert texts == ["one", "reply one", "two", "reply two"]
    # The second turn's prompt holds the whole history, so it is longer.
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


def test_instructions_override_and_additions(client, server, scripted):
    thread = new_thread(client, "hi")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=scripted.id, instructions="Override.",
        additional_instructions="Also this.")
    assert run.instructions == "Override.\n\nAlso this."
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=scripted.id, additional_instructions="Plus.")
    assert run.instructions == "Be exact.\n\nPlus."


def test_additional_messages_join_the_thread(client, server, scripted):
    thread = new_thread(client, "first")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=scripted.id,
        additional_messages=[{"role": "user", "content": "added"}])
    assert reply_text(client, thread.id, run.id) == "You said: added"
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id, order="asc")]
    assert texts == ["first", "added", "You said: added"]


def test_create_and_run_makes_the_thread(client, server, scripted):
    script(server, {"text": "made"})
    run = client.beta.threads.create_and_run_poll(
        assistant_id=scripted.id, thread={"messages": [{"role": "user", "content": "new"}],
                                          "metadata": {"k": "v"}})
    assert run.status == "completed"
    assert client.beta.threads.retrieve(run.thread_id).metadata == {"k": "v"}
    assert reply_text(client, run.thread_id, run.id) == "made"


def test_max_completion_tokens_ends_incomplete(client, server, scripted):
    thread = new_thread(client, "talk")
    script(server, {"text": " ".join(f"word{i}" for i in range(60))})
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=scripted.id, max_completion_tokens=16)
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens == 16
    msg = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert msg.status == "incomplete" and msg.incomplete_details.reason == "max_tokens"
    assert msg.content[0].text.value.split() == [f"word{i}" for i in range(16)]


def test_max_prompt_tokens_ends_incomplete(client, server, scripted):
    thread = new_thread(client, " ".join(["long"] * 400))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=scripted.id, max_prompt_tokens=256)
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert client.beta.threads.messages.list(thread.id, run_id=run.id).data == []


def test_truncation_last_messages_keeps_only_the_newest(client, server, scripted):
    texts = [f"message number {i} with some words" for i in range(6)]
    full = new_thread(client, *texts)
    last_two = new_thread(client, *texts[-2:])
    kw = {"assistant_id": scripted.id}
    truncated = client.beta.threads.runs.create_and_poll(
        thread_id=full.id, truncation_strategy={"type": "last_messages", "last_messages": 2}, **kw)
    reference = client.beta.threads.runs.create_and_poll(thread_id=last_two.id, **kw)
    whole = client.beta.threads.runs.create_and_poll(thread_id=new_thread(client, *texts).id, **kw)
    assert truncated.truncation_strategy.type == "last_messages"
    assert truncated.truncation_strategy.last_messages == 2
    assert truncated.usage.prompt_tokens == reference.usage.prompt_tokens
    assert whole.usage.prompt_tokens > truncated.usage.prompt_tokens


def test_one_active_run_per_thread(client, server, scripted):
    thread = new_thread(client, "slow please")
    script(server, slow_reply(words=400, delay_ms=20), thread_id=thread.id)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=scripted.id)
    body = bad_request(client.beta.threads.runs.create, thread_id=thread.id, assistant_id=scripted.id)
    assert run.id in body["message"]
    body = bad_request(client.beta.threads.messages.create, thread.id, role="user", content="x")
    assert run.id in body["message"]
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    done = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert done.status == "cancelled"
    client.beta.threads.messages.create(thread.id, role="user", content="now allowed")


def test_cancel_stops_a_running_generation(client, server, scripted):
    thread = new_thread(client, "go")
    script(server, slow_reply(words=400, delay_ms=20), thread_id=thread.id)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=scripted.id)
    wait_run(client, thread.id, run.id, lambda r: r.status == "in_progress")
    msg = wait_for_text(client, thread.id, run.id)

    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status == "cancelling"
    run = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert run.status == "cancelled" and run.expires_at is None
    assert_recent(run.cancelled_at)
    msg = client.beta.threads.messages.retrieve(msg.id, thread_id=thread.id)
    assert msg.status == "incomplete" and msg.incomplete_details.reason == "run_cancelled"
    assert 0 < len(msg.content[0].text.value.split()) < 400
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "cancelled"
    body = bad_request(client.beta.threads.runs.cancel, run.id, thread_id=thread.id)
    assert "cancelled" in body["message"]


def test_cancel_a_queued_run(client, server, scripted):
    busy, waiting = new_thread(client, "busy"), new_thread(client, "waiting")
    script(server, slow_reply(words=400, delay_ms=20), thread_id=busy.id)
    first = client.beta.threads.runs.create(thread_id=busy.id, assistant_id=scripted.id)
    wait_run(client, busy.id, first.id, lambda r: r.status == "in_progress")
    second = client.beta.threads.runs.create(thread_id=waiting.id, assistant_id=scripted.id)
    assert second.status == "queued"
    client.beta.threads.runs.cancel(second.id, thread_id=waiting.id)
    assert client.beta.threads.runs.retrieve(second.id, thread_id=waiting.id).status == "cancelled"
    assert client.beta.threads.runs.steps.list(second.id, thread_id=waiting.id).data == []
    client.beta.threads.runs.cancel(first.id, thread_id=busy.id)
    assert client.beta.threads.runs.poll(first.id, thread_id=busy.id).status == "cancelled"


def test_runs_list_and_metadata_update(client, server, scripted):
    thread = new_thread(client, "x")
    r1 = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id)
    r2 = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id,
                                                  metadata={"n": "2"})
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [r2.id, r1.id]
    updated = client.beta.threads.runs.update(r1.id, thread_id=thread.id, metadata={"tag": "a"})
    assert updated.metadata == {"tag": "a"} and updated.status == "completed"


def test_run_errors(client, server, scripted):
    thread = new_thread(client, "x")
    from helpers import assert_not_found
    assert_not_found("assistant", "asst_nope", client.beta.threads.runs.create,
                     thread_id=thread.id, assistant_id="asst_nope")
    assert_not_found("thread", "thread_nope", client.beta.threads.runs.create,
                     thread_id="thread_nope", assistant_id=scripted.id)
    body = bad_request(client.beta.threads.runs.create, thread_id=thread.id,
                       assistant_id=scripted.id, temperature=5)
    assert body["param"] == "temperature"
    assert client.beta.threads.runs.list(thread.id).data == []
