"""The plugin scripts Chat Completions too: replies and function calls queued without a thread
answer the app's chat requests."""

from __future__ import annotations

import json

from example_app import WEATHER_TOOL


def test_a_scripted_reply_answers_a_chat_request(airlock):
    airlock.reply("A short title")
    r = airlock.client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Title this chat."}])
    assert r.choices[0].message.content == "A short title"
    assert airlock.queued() == []


def test_a_scripted_call_is_the_completions_tool_call(airlock):
    airlock.call_function("get_weather", {"city": "Paris"})
    r = airlock.client.chat.completions.create(
        model="gpt-4o-mini", tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Paris?"}])
    (call,) = r.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather", {"city": "Paris"})
