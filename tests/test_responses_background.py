"""Background responses on the scripted model, through the strict openai client: queued, run
by the model worker, polled; streamed and streamed again from the stored log (from the start,
or after a point, then live); cancelled queued or mid-reply, twice; one at a time per
conversation; and after a crash, ended or taken up, never left queued."""

from __future__ import annotations

import time

import openai
import pytest

from helpers import api_error
from tests.runs_helpers import DEADLINE_S, clear_script, script, slow_reply, wait_response

TERMINAL = ("response.completed", "response.incomplete", "response.failed")


@pytest.fixture(scope="module")
def server(start_server):
    return start_server("background", "--model", "scripted")


@pytest.fixture()
def client(server):
    clear_script(server)
    c = server.client()
    yield c
    c.close()


def finished(client, response_id: str):
    return wait_response(client, response_id,
                         lambda r: r.status not in ("queued", "in_progress"))


def started(client, response_id: str) -> list:
    """Waits until the response's text has begun (in progress, a delta stored); its events."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        with client.responses.retrieve(response_id, stream=True) as stream:
            events = []
            for event in stream:
                events.append(event)
                if event.type == "response.output_text.delta":
                    return events
        assert time.monotonic() < deadline, "no text was streamed"


def test_a_background_response_is_queued_then_completes(client, server):
    script(server, {"text": "Done in the background."})
    r = client.responses.create(model="gpt-4o", input="work on it", background=True,
                                metadata={"job": "1"})
    assert r.status == "queued" and r.background is True and r.output == []
    assert r.metadata == {"job": "1"}
    done = finished(client, r.id)
    assert done.status == "completed" and done.output_text == "Done in the background."
    assert done.background is True and done.usage.output_tokens == 4
    (item,) = client.responses.input_items.list(r.id).data
    assert item.content[0].text == "work on it"
    chained = client.responses.create(model="gpt-4o", input="and?", previous_response_id=r.id)
    assert chained.status == "completed"


def test_its_stream_is_stored_and_replayed_whole_or_after_a_point(client, server):
    script(server, {"text": "one two three four"})
    with client.responses.create(model="gpt-4o", input="go", background=True,
                                 stream=True) as stream:
        live = [e.model_dump() for e in stream]
    kinds = [e["type"] for e in live]
    assert kinds[:3] == ["response.created", "response.queued", "response.in_progress"]
    assert live[0]["response"]["status"] == "queued"
    assert kinds[-1] == "response.completed" and kinds.count("response.output_text.delta") == 4
    assert [e["sequence_number"] for e in live] == list(range(len(live)))
    assert len({e["response"]["id"] for e in live if "response" in e}) == 1

    with client.responses.retrieve(live[0]["response"]["id"], stream=True) as again:
        assert [e.model_dump() for e in again] == live
    with client.responses.retrieve(live[0]["response"]["id"], stream=True,
                                   starting_after=5) as rest:
        assert [e.model_dump() for e in rest] == live[6:]
    # The SDK's helper resumes by replaying from the start and skipping what it saw.
    with client.responses.stream(response_id=live[0]["response"]["id"]) as helper:
        assert helper.get_final_response().output_text == "one two three four"


def test_a_client_that_leaves_resumes_live_where_it_left(client, server):
    script(server, slow_reply(words=60, delay_ms=20))
    seen = []
    with client.responses.create(model="gpt-4o", input="long", background=True,
                                 stream=True) as stream:
        for event in stream:
            seen.append(event.model_dump())
            if event.type == "response.output_text.delta":
                break  # the connection closes mid-reply; the response goes on
    response_id = seen[0]["response"]["id"]
    with client.responses.retrieve(response_id, stream=True,
                                   starting_after=seen[-1]["sequence_number"]) as rest:
        seen += [e.model_dump() for e in rest]
    assert [e["sequence_number"] for e in seen] == list(range(len(seen)))
    assert seen[-1]["type"] == "response.completed"
    text = "".join(e["delta"] for e in seen if e["type"] == "response.output_text.delta")
    assert text == seen[-1]["response"]["output"][0]["content"][0]["text"]
    assert len(text.split()) == 60


def test_cancel_mid_reply_and_again(client, server):
    script(server, slow_reply(words=400, delay_ms=20))
    r = client.responses.create(model="gpt-4o", input="long", background=True)
    started(client, r.id)
    cancelled = client.responses.cancel(r.id)
    assert cancelled.status == "cancelled" and cancelled.id == r.id
    assert client.responses.cancel(r.id).status == "cancelled"  # twice is fine
    assert client.responses.retrieve(r.id).status == "cancelled"
    with client.responses.retrieve(r.id, stream=True) as stream:
        events = [e.model_dump() for e in stream]
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["status"] == "cancelled"
    closed = [e for e in events if e["type"] == "response.output_item.done"]
    assert [e["item"]["status"] for e in closed] == ["incomplete"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    # The worker stopped: the next response runs at once.
    script(server, {"text": "next"})
    assert client.responses.create(model="gpt-4o", input="x").output_text == "next"


def test_cancel_a_queued_response(client, server):
    script(server, slow_reply(words=400, delay_ms=20))
    busy = client.responses.create(model="gpt-4o", input="busy", background=True)
    started(client, busy.id)
    waiting = client.responses.create(model="gpt-4o", input="waiting", background=True)
    assert client.responses.retrieve(waiting.id).status == "queued"
    assert client.responses.cancel(waiting.id).status == "cancelled"
    with client.responses.retrieve(waiting.id, stream=True) as stream:
        kinds = [e.type for e in stream]
    assert kinds == ["response.created", "response.queued", "response.failed"]
    client.responses.cancel(busy.id)
    assert finished(client, busy.id).status == "cancelled"
    assert client.responses.retrieve(waiting.id).status == "cancelled"


def test_what_cannot_be_cancelled_or_replayed(client, server):
    script(server, {"text": "quick"})
    r = client.responses.create(model="gpt-4o", input="x", background=True)
    finished(client, r.id)
    e = api_error(openai.BadRequestError, client.responses.cancel, r.id)
    assert "completed" in e.message
    plain = client.responses.create(model="gpt-4o", input="x")
    e = api_error(openai.BadRequestError, client.responses.retrieve, plain.id, stream=True)
    assert e.param == "stream"
    api_error(openai.NotFoundError, client.responses.retrieve, "resp_missing", stream=True)
    # Asked for events after its last, a finished response's stream ends at once, empty.
    with client.responses.retrieve(r.id, stream=True, starting_after=10_000) as stream:
        assert list(stream) == []
    e = api_error(openai.BadRequestError, client.responses.create, model="gpt-4o",
                  input="x", background=True, store=False)
    assert e.param == "store"
    e = api_error(openai.NotFoundError, client.responses.create, model="gpt-4o", input="x",
                  background=True, previous_response_id="resp_missing")
    assert "resp_missing" in e.message


def test_deleting_a_running_response_stops_it_and_ends_its_streams(client, server):
    script(server, slow_reply(words=400, delay_ms=20))
    r = client.responses.create(model="gpt-4o", input="long", background=True)
    seen = started(client, r.id)
    with client.responses.retrieve(r.id, stream=True,
                                   starting_after=seen[-1].sequence_number) as stream:
        client.responses.delete(r.id)
        rest = list(stream)  # ends: no terminal event can come from a deleted response
    assert all(e.type == "response.output_text.delta" for e in rest)
    api_error(openai.NotFoundError, client.responses.retrieve, r.id)
    script(server, {"text": "next"})  # the worker stopped: the next one runs at once
    assert client.responses.create(model="gpt-4o", input="x").output_text == "next"


def test_one_response_at_a_time_per_conversation(client, server):
    conv = client.conversations.create()
    script(server, slow_reply(words=400, delay_ms=20), thread_id=conv.id)
    first = client.responses.create(model="gpt-4o", input="first", background=True,
                                    conversation=conv.id)
    for background in (True, False):
        e = api_error(openai.BadRequestError, client.responses.create, model="gpt-4o",
                      input="second", conversation=conv.id, background=background)
        assert e.param == "conversation" and "in progress" in e.message
    client.responses.cancel(first.id)
    script(server, {"text": "answered"}, thread_id=conv.id)
    second = client.responses.create(model="gpt-4o", input="second", background=True,
                                     conversation=conv.id)
    assert finished(client, second.id).output_text == "answered"
    texts = [i.content[0].text for i in client.conversations.items.list(conv.id, order="asc")]
    assert texts == ["second", "answered"]  # the cancelled one added nothing


def test_after_a_crash_nothing_is_left_queued_or_running(start_server):
    server = start_server("background-crash", "--model", "scripted")
    with server.client() as c:
        script(server, slow_reply(words=400, delay_ms=20), {"text": "after the restart"})
        running = c.responses.create(model="gpt-4o", input="long", background=True)
        started(c, running.id)
        queued = c.responses.create(model="gpt-4o", input="next", background=True)
        assert c.responses.retrieve(queued.id).status == "queued"

    server.crash()
    server.start()

    with server.client() as c:
        failed = c.responses.retrieve(running.id)
        assert failed.status == "failed" and "restarted" in failed.error.message
        with c.responses.retrieve(running.id, stream=True) as stream:
            kinds = [e.type for e in stream]
        assert kinds[-1] == "response.failed"
        done = finished(c, queued.id)
        assert done.status == "completed" and done.output_text == "after the restart"
