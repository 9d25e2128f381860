"""The example app tested as a user of the plugin would: the `airlock` fixture, scripted turns,
a real server, no network."""

from __future__ import annotations

import asyncio
import json
import os

import openai
import pytest
from example_app import WEATHER_TOOL, AppError, HandbookBot, WeatherBot, last_answer


def test_function_call_then_final_answer(airlock):
    bot = WeatherBot(airlock.client)
    airlock.call_function("get_weather", {"city": "Paris"})
    airlock.reply("It is 21 °C in Paris.")

    conversation = bot.start()
    assert conversation.ask("What's the weather in Paris?") == "It is 21 °C in Paris."
    assert conversation.weather_lookups == ["Paris"]
    # The output the app submitted is on the run's tool step, as the model saw it.
    run = airlock.client.beta.threads.runs.list(conversation.thread_id).data[0]
    step = airlock.client.beta.threads.runs.steps.list(run.id, thread_id=conversation.thread_id,
                                                       order="asc").data[0]
    call = step.step_details.tool_calls[0]
    assert json.loads(call.function.output) == {"city": "Paris", "temperature_c": 21}
    assert airlock.queued() == []


def test_several_function_calls_in_one_turn(airlock):
    airlock.call_functions([("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})])
    airlock.reply("Paris 21 °C, Oslo 4 °C.")

    conversation = WeatherBot(airlock.client).start()
    assert conversation.ask("Paris and Oslo?") == "Paris 21 °C, Oslo 4 °C."
    assert conversation.weather_lookups == ["Paris", "Oslo"]


def test_replies_per_thread_before_the_global_queue(airlock):
    bot = WeatherBot(airlock.client)
    paris, oslo = bot.start(), bot.start()
    airlock.reply("Oslo: cold.", thread=oslo.thread_id)
    airlock.reply("Paris: mild.", thread=paris.thread_id)
    airlock.reply("From the global queue.")

    assert oslo.ask("Oslo?") == "Oslo: cold."
    assert paris.ask("Paris?") == "Paris: mild."
    assert paris.ask("Again?") == "From the global queue."


def test_file_search_answer_cites_the_handbook(airlock, tmp_path):
    handbook = tmp_path / "policy.txt"
    handbook.write_text("Refunds are accepted within 30 days of purchase, with the receipt.\n")
    bot = HandbookBot(handbook, airlock.client)
    airlock.search_files("refund window")
    airlock.reply("Within 30 days.【0:0†policy.txt】")

    answer = bot.ask("How long do I have to return something?")
    file_id = airlock.client.vector_stores.files.list(bot.vector_store_id).data[0].id
    assert answer.text == "Within 30 days.【0:0†policy.txt】"
    assert answer.citations == [("【0:0†policy.txt】", file_id)]


def test_code_interpreter_step_carries_the_output(airlock):
    client = airlock.client
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What is 6 times 7?"}])
    airlock.run_code("print(6*7)", thread=thread)
    airlock.reply("6 × 7 = 42.", thread=thread)

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    call = step.step_details.tool_calls[0]
    assert call.code_interpreter.input == "print(6*7)"
    assert [o.logs for o in call.code_interpreter.outputs] == ["42\n"]
    assert last_answer(client, thread.id).value == "6 × 7 = 42."


def test_a_model_failure_reaches_the_app(airlock):
    conversation = WeatherBot(airlock.client).start()
    airlock.fail("the model fell over", text="Let me check", thread=conversation.thread_id)

    with pytest.raises(AppError, match="run failed: .*the model fell over"):
        conversation.ask("Weather?")
    # What the model said before failing stays in the thread.
    assert last_answer(airlock.client, conversation.thread_id).value == "Let me check"


def test_cancel_a_slow_reply_mid_stream(airlock):
    client = airlock.client
    bot = WeatherBot(client)
    thread_id = bot.start().thread_id
    story = "Once upon a time there was a very long story. " * 10
    airlock.reply(story, thread=thread_id, delay_ms=20)
    client.beta.threads.messages.create(thread_id, role="user", content="Tell me a story.")

    with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=bot.assistant_id) as stream:
        for event in stream:
            if event.event == "thread.run.created":
                run_id = event.data.id
            if event.event == "thread.message.delta":
                client.beta.threads.runs.cancel(run_id, thread_id=thread_id)
                break
    run = client.beta.threads.runs.poll(run_id, thread_id=thread_id)
    assert run.status == "cancelled"
    told = last_answer(client, thread_id).value
    assert told and story.startswith(told) and len(told) < len(story)


# Filled by the first isolation test, checked by the second (they run in file order).
_LEFT_BEHIND: dict[str, str] = {}


def test_isolation_1_a_test_creates_objects(airlock):
    client = airlock.client
    _LEFT_BEHIND.update(
        assistant=client.beta.assistants.create(model="gpt-4o").id,
        thread=client.beta.threads.create().id,
        file=client.files.create(file=("notes.txt", b"hello"), purpose="assistants").id,
        vector_store=client.vector_stores.create(name="notes").id,
    )
    airlock.reply("Never consumed.")


def test_isolation_2_the_next_test_sees_none_of_them(airlock):
    if not _LEFT_BEHIND:
        pytest.skip("needs test_isolation_1_a_test_creates_objects to run first")
    client = airlock.client
    assert airlock.queued() == []
    assert _LEFT_BEHIND["assistant"] not in {a.id for a in client.beta.assistants.list()}
    assert _LEFT_BEHIND["file"] not in {f.id for f in client.files.list()}
    assert _LEFT_BEHIND["vector_store"] not in {v.id for v in client.vector_stores.list()}
    for retrieve, key in ((client.beta.assistants.retrieve, "assistant"),
                          (client.beta.threads.retrieve, "thread"),
                          (client.files.retrieve, "file"),
                          (client.vector_stores.retrieve, "vector_store")):
        with pytest.raises(openai.NotFoundError):
            retrieve(_LEFT_BEHIND[key])


def test_strict_a_run_with_nothing_queued_fails_naming_its_thread(airlock):
    client = airlock.client
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed"
    assert f"No scripted reply queued for thread {thread.id}" in run.last_error.message


def test_an_app_that_builds_its_own_client_from_the_environment(airlock_env):
    assert os.environ["OPENAI_BASE_URL"] == airlock_env.base_url
    assert os.environ["OPENAI_API_KEY"] == airlock_env.api_key
    airlock_env.call_function("get_weather", {"city": "Oslo"})
    airlock_env.reply("4 °C in Oslo.")

    bot = WeatherBot()  # openai.OpenAI() with no arguments
    assert bot.ask("Oslo?") == "4 °C in Oslo."


def test_the_async_client(airlock):
    async def ask() -> tuple[str, str, str]:
        client = airlock.async_client
        assistant = await client.beta.assistants.create(model="gpt-4o")
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        airlock.reply("Hello from the event loop.", thread=thread)
        run = await client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                             assistant_id=assistant.id)
        message = (await client.beta.threads.messages.list(thread.id)).data[0]
        await client.close()
        return thread.id, run.status, message.content[0].text.value

    thread_id, status, text = asyncio.run(ask())
    assert (status, text) == ("completed", "Hello from the event loop.")
    assert thread_id in airlock.threads.created  # so it is deleted after the test


def test_queued_and_clear(airlock):
    thread = airlock.client.beta.threads.create()
    airlock.reply("global")
    airlock.reply("for the thread", thread=thread, delay_ms=5)
    airlock.call_function("get_weather", {"city": "Paris"}, thread=thread.id)

    assert [r["text"] for r in airlock.queued()] == ["global"]
    for_thread = airlock.queued(thread=thread)
    assert [r.get("text") for r in for_thread] == ["for the thread", None]
    assert for_thread[0]["delay_ms"] == 5
    assert for_thread[1]["tool_calls"][0]["function"] == {"name": "get_weather",
                                                          "arguments": {"city": "Paris"}}
    assert airlock.clear(thread=thread) == 2
    assert airlock.queued(thread=thread) == [] and len(airlock.queued()) == 1
    assert airlock.clear() == 1
    assert airlock.queued() == []


# Runs the first test leaves active, on threads it used but did not create (so they stay).
_LEFT_ACTIVE: dict[str, tuple[str, str]] = {}


def test_leftover_runs_1_a_test_leaves_runs_active(airlock):
    app_client = openai.OpenAI(base_url=airlock.base_url, api_key=airlock.api_key)
    assistant = airlock.client.beta.assistants.create(model="gpt-4o", tools=[WEATHER_TOOL])
    slow, waiting = (app_client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
                     for _ in range(2))
    airlock.reply("and so on " * 50, thread=slow, delay_ms=1000)
    airlock.call_function("get_weather", {"city": "Paris"}, thread=waiting)

    run = airlock.client.beta.threads.runs.create_and_poll(thread_id=waiting.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    _LEFT_ACTIVE["waiting"] = (waiting.id, run.id)
    run = airlock.client.beta.threads.runs.create(thread_id=slow.id, assistant_id=assistant.id)
    _LEFT_ACTIVE["slow"] = (slow.id, run.id)
    app_client.close()


def test_leftover_runs_2_were_cancelled_after_the_test(airlock):
    if not _LEFT_ACTIVE:
        pytest.skip("needs test_leftover_runs_1_a_test_leaves_runs_active to run first")
    for thread_id, run_id in _LEFT_ACTIVE.values():
        assert airlock.client.beta.threads.runs.retrieve(run_id, thread_id=thread_id).status == "cancelled"
        airlock.client.beta.threads.delete(thread_id)
