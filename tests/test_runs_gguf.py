"""Runs on the real embedded GGUF (SmolLM2-135M-Instruct): the capability, end to end."""

from __future__ import annotations

import json
import threading

import jsonschema
import pytest

from helpers import bad_request

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tutor(client):
    return client.beta.assistants.create(
        model="gpt-4o", name="Tutor", instructions="You are a helpful tutor. Answer briefly.")


def run(client, thread_id, assistant_id, **kw):
    return client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, max_completion_tokens=64, **kw)


def reply(client, thread_id, run_id):
    (msg,) = client.beta.threads.messages.list(thread_id, run_id=run_id).data
    return msg


def test_create_and_poll_replies_with_real_usage(client, tutor):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What is the capital of France?"}])
    r = run(client, thread.id, tutor.id)
    assert r.status in ("completed", "incomplete"), r.last_error
    assert r.model == "gpt-4o"  # unknown names run on the default model, and keep their name
    assert r.usage.prompt_tokens > 10 and r.usage.completion_tokens > 0
    assert reply(client, thread.id, r.id).content[0].text.value.strip()


def test_multi_turn_reuses_the_evaluated_prefix(client, tutor):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Name a fruit."}])
    first = run(client, thread.id, tutor.id)
    client.beta.threads.messages.create(thread.id, role="user", content="Name another one.")
    second = run(client, thread.id, tutor.id)
    assert second.usage.prompt_tokens > first.usage.prompt_tokens
    details = second.usage.model_extra.get("prompt_token_details") or {}
    assert details.get("cached_tokens", 0) >= first.usage.prompt_tokens // 2, details
    assert len(client.beta.threads.messages.list(thread.id).data) == 4


def test_run_instructions_override_the_assistants(client, tutor):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    r = run(client, thread.id, tutor.id, instructions="Reply in French.")
    assert r.instructions == "Reply in French."
    assert reply(client, thread.id, r.id).content[0].text.value.strip()


def test_max_completion_tokens_cuts_the_reply(client, tutor):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Write a long story about a dragon."}])
    r = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=tutor.id, max_completion_tokens=16)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_completion_tokens"
    assert r.usage.completion_tokens == 16
    assert reply(client, thread.id, r.id).status == "incomplete"


def test_json_schema_reply_validates(client, tutor):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Give me a city and its population as JSON."}])
    r = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=tutor.id, max_completion_tokens=200,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}})
    assert r.status == "completed", (r.status, r.last_error, r.incomplete_details)
    jsonschema.validate(json.loads(reply(client, thread.id, r.id).content[0].text.value), schema)


def test_json_object_reply_parses(client, tutor):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Describe a cat as JSON."}])
    r = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=tutor.id, max_completion_tokens=200,
        response_format={"type": "json_object"})
    assert r.status == "completed", (r.status, r.last_error, r.incomplete_details)
    assert isinstance(json.loads(reply(client, thread.id, r.id).content[0].text.value), dict)


def test_three_threads_run_concurrently(client, tutor):
    threads = [client.beta.threads.create(messages=[{"role": "user", "content": f"Count to {n}."}])
               for n in (3, 4, 5)]
    results = {}

    def go(t):
        results[t.id] = run(client, t.id, tutor.id)

    workers = [threading.Thread(target=go, args=(t,)) for t in threads]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert {r.status for r in results.values()} <= {"completed", "incomplete"}
    for t in threads:
        assert reply(client, t.id, results[t.id].id).content[0].text.value.strip()


def test_strict_models_rejects_unknown_names(start_server):
    strict = start_server("strict", "--strict-models")
    with strict.client() as c:
        body = bad_request(c.beta.assistants.create, model="gpt-4o")
        assert body["code"] == "model_not_found" and body["param"] == "model"
        asst = c.beta.assistants.create(model="smollm2-135m-instruct")
        thread = c.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        body = bad_request(c.beta.threads.runs.create, thread_id=thread.id, assistant_id=asst.id,
                           model="gpt-4o")
        assert body["code"] == "model_not_found" and body["param"] == "model"
        assert c.beta.threads.runs.list(thread.id).data == []
        ok = c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                                 max_completion_tokens=16)
        assert ok.status in ("completed", "incomplete")


def test_streamed_tokens_add_up_to_the_stored_reply(client, tutor):
    from openai import AssistantEventHandler

    class Deltas(AssistantEventHandler):
        def __init__(self):
            super().__init__()
            self.values = []

        def on_text_delta(self, delta, snapshot):
            self.values.append(delta.value)

    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Tell me about the sea."}])
    handler = Deltas()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=tutor.id,
                                         max_completion_tokens=48, event_handler=handler) as s:
        s.until_done()
        final = s.get_final_run()
    assert len(handler.values) > 5  # token by token, not one buffered reply
    assert final == client.beta.threads.runs.retrieve(final.id, thread_id=thread.id)
    assert reply(client, thread.id, final.id).content[0].text.value == "".join(handler.values)
