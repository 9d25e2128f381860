"""The plugin scripts Responses too: global replies answer responses, and replies queued with
`thread=` a conversation answer that conversation's responses first."""

from __future__ import annotations

import json

WEATHER = {"type": "function", "name": "get_weather", "strict": True, "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
    "additionalProperties": False}}


def weather_app(client, question: str) -> str:
    """A Responses app: calls get_weather when the model asks, then returns the answer."""
    response = client.responses.create(model="gpt-4o", input=question, tools=[WEATHER])
    calls = [item for item in response.output if item.type == "function_call"]
    while calls:
        outputs = [{"type": "function_call_output", "call_id": c.call_id,
                    "output": json.dumps({"temperature_c": 21, **json.loads(c.arguments)})}
                   for c in calls]
        response = client.responses.create(model="gpt-4o", tools=[WEATHER], input=outputs,
                                           previous_response_id=response.id)
        calls = [item for item in response.output if item.type == "function_call"]
    return response.output_text


def test_a_responses_app_with_a_function(airlock):
    airlock.call_function("get_weather", {"city": "Paris"})
    airlock.reply("It is 21 °C in Paris.")
    assert weather_app(airlock.client, "Weather in Paris?") == "It is 21 °C in Paris."
    assert airlock.queued() == []


def test_a_conversation_has_its_own_queue(airlock):
    conv = airlock.client.conversations.create()
    airlock.reply("global")
    airlock.reply("for the conversation", thread=conv)
    r = airlock.client.responses.create(model="gpt-4o", input="hi", conversation=conv.id)
    assert r.output_text == "for the conversation"
    assert airlock.client.responses.create(model="gpt-4o", input="hi").output_text == "global"


def test_nothing_queued_fails_the_response_naming_why(airlock):
    r = airlock.client.responses.create(model="gpt-4o", input="hi")
    assert r.status == "failed" and "No scripted reply queued" in r.error.message


def test_search_files_and_run_code_turns_serve_responses(airlock):
    c = airlock.client
    doc = c.files.create(file=("policy.txt", b"Refunds are paid within 30 days."),
                         purpose="assistants")
    store = c.vector_stores.create(name="policies")
    c.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=doc.id)
    airlock.search_files("refund time")
    airlock.reply("Within 30 days 【0:0†policy.txt】.")
    r = c.responses.create(model="gpt-4o", input="How fast are refunds?", tools=[
        {"type": "file_search", "vector_store_ids": [store.id]}])
    assert r.output[0].queries[0] == "refund time" and r.output_text == "Within 30 days."
    assert r.output[1].content[0].annotations[0].file_id == doc.id

    airlock.run_code("print(2 ** 31)")
    airlock.reply("2147483648")
    r = c.responses.create(model="gpt-4o", input="2**31?", include=[
        "code_interpreter_call.outputs"], tools=[
        {"type": "code_interpreter", "container": {"type": "auto"}}])
    assert r.output[0].code == "print(2 ** 31)"
    assert r.output[0].outputs[0].logs.strip() == "2147483648"
    assert r.output_text == "2147483648"
