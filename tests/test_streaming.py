"""Streaming runs through the Python SDK's stream helpers (scripted model: exact replies)."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest
from openai import AssistantEventHandler

from helpers import assert_not_found, bad_request
from runs_helpers import clear_script, script, slow_reply

ORDER_A = [
    "thread.run.created", "thread.run.queued", "thread.run.in_progress",
    "thread.run.step.created", "thread.run.step.in_progress",
    "thread.message.created", "thread.message.in_progress",
]
ENDING_A = ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]


class Recorder(AssistantEventHandler):
    def __init__(self):
        super().__init__()
        self.events: list[str] = []
        self.deltas: list[str] = []
        self.created_text = 0

    def on_event(self, event):
        self.events.append(event.event)

    def on_text_created(self, text):
        self.created_text += 1

    def on_text_delta(self, delta, snapshot):
        self.deltas.append(delta.value)


@pytest.fixture()
def scripted(client, server):
    clear_script(server)
    yield client.beta.assistants.create(model="scripted")
    clear_script(server)


def thread_with(client, text="hi"):
    return client.beta.threads.create(messages=[{"role": "user", "content": text}])


def test_stream_follows_the_contract_order_and_matches_get(client, server, scripted):
    thread = thread_with(client)
    script(server, {"text": "Streaming works, word by word."}, thread_id=thread.id)
    rec = Recorder()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=scripted.id,
                                         event_handler=rec) as stream:
        stream.until_done()
        final_run = stream.get_final_run()
        final_messages = stream.get_final_messages()

    deltas = rec.events.count("thread.message.delta")
    assert rec.events == ORDER_A + ["thread.message.delta"] * deltas + ENDING_A
    assert deltas == len(rec.deltas) == 5  # one delta per emitted piece, none buffered
    assert "".join(rec.deltas) == "Streaming works, word by word."
    assert rec.created_text == 1
    assert final_run == client.beta.threads.runs.retrieve(final_run.id, thread_id=thread.id)
    assert final_run.status == "completed" and final_run.usage.completion_tokens == 5
    (stored,) = client.beta.threads.messages.list(thread.id, run_id=final_run.id).data
    assert final_messages == [stored]
    assert stored.content[0].text.value == "".join(rec.deltas)


def test_create_and_run_stream_starts_with_the_thread(client, server, scripted):
    script(server, {"text": "new thread reply"})
    rec = Recorder()
    with client.beta.threads.create_and_run_stream(
            assistant_id=scripted.id, thread={"messages": [{"role": "user", "content": "hello"}]},
            event_handler=rec) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert rec.events[0] == "thread.created" and rec.events[1:8] == ORDER_A
    assert rec.events[-3:] == ENDING_A
    assert "".join(rec.deltas) == "new thread reply"
    assert client.beta.threads.retrieve(run.thread_id).id == run.thread_id


def test_validation_errors_come_before_the_stream(client, server, scripted):
    assert_not_found("thread", "thread_nope", lambda: client.beta.threads.runs.stream(
        thread_id="thread_nope", assistant_id=scripted.id).__enter__())
    thread = thread_with(client)
    body = bad_request(lambda: client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=scripted.id, temperature=9).__enter__())
    assert body["param"] == "temperature"
    script(server, slow_reply(words=300, delay_ms=20), thread_id=thread.id)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=scripted.id)
    body = bad_request(lambda: client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=scripted.id).__enter__())
    assert run.id in body["message"]
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    client.beta.threads.runs.poll(run.id, thread_id=thread.id)


def test_disconnect_does_not_cancel_the_run(client, server, scripted):
    thread = thread_with(client)
    words = " ".join(f"w{i}" for i in range(40))
    script(server, {"text": words, "delay_ms": 10}, thread_id=thread.id)
    seen = 0
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=scripted.id) as stream:
        for event in stream:
            if event.event == "thread.run.created":
                run_id = event.data.id
            if event.event == "thread.message.delta":
                seen += 1
                if seen == 3:
                    break  # leaving the block closes the connection
    run = client.beta.threads.runs.poll(run_id, thread_id=thread.id)
    assert run.status == "completed"
    (msg,) = client.beta.threads.messages.list(thread.id, run_id=run_id).data
    assert msg.content[0].text.value == words


def test_concurrent_streams_interleave_and_stay_separate(client, server, scripted):
    threads = [thread_with(client, f"t{i}") for i in range(3)]
    for i, t in enumerate(threads):
        script(server, {"text": " ".join(f"thread{i}-word{j}" for j in range(12)), "delay_ms": 5},
               thread_id=t.id)
    texts: dict[str, str] = {}

    def consume(t):
        rec = Recorder()
        with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=scripted.id,
                                             event_handler=rec) as stream:
            stream.until_done()
        texts[t.id] = "".join(rec.deltas)

    workers = [threading.Thread(target=consume, args=(t,)) for t in threads]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for i, t in enumerate(threads):
        assert texts[t.id] == " ".join(f"thread{i}-word{j}" for j in range(12))


def test_a_reader_that_does_not_read_blocks_nothing(client, server, scripted):
    stalled, other = thread_with(client, "stalled"), thread_with(client, "other")
    script(server, {"text": " ".join(f"s{i}" for i in range(50))}, thread_id=stalled.id)
    script(server, {"text": "other reply"}, thread_id=other.id)
    with httpx.Client(base_url=server.base_url, timeout=60) as raw:
        with raw.stream("POST", f"/threads/{stalled.id}/runs",
                        json={"assistant_id": scripted.id, "stream": True}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            # Nothing is read from this stream while another run goes all the way through.
            run = client.beta.threads.runs.create_and_poll(thread_id=other.id,
                                                           assistant_id=scripted.id)
            assert run.status == "completed"
            (stalled_run,) = client.beta.threads.runs.list(stalled.id).data
            assert client.beta.threads.runs.poll(stalled_run.id, thread_id=stalled.id).status == "completed"
            body = response.read().decode()
    assert body.endswith("event: done\ndata: [DONE]\n\n")
    assert body.count("event: thread.message.delta") == 50


def test_failure_mid_stream_sends_failed_then_error_then_done(client, server, scripted):
    thread = thread_with(client)
    script(server, {"text": "partial answer", "error": "the GPU caught fire"}, thread_id=thread.id)
    with httpx.Client(base_url=server.base_url, timeout=60) as raw:
        body = raw.post(f"/threads/{thread.id}/runs",
                        json={"assistant_id": scripted.id, "stream": True}).text
    names = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert names[-6:] == ["thread.message.delta", "thread.message.incomplete",
                          "thread.run.step.failed", "thread.run.failed", "error", "done"]
    assert '"message":"The model failed: the GPU caught fire"' in body

    script(server, {"text": "x", "error": "again"}, thread_id=thread.id)
    with pytest.raises(openai.APIError, match="again"):
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=scripted.id) as s:
            s.until_done()
    (run, _) = client.beta.threads.runs.list(thread.id).data
    assert run.status == "failed" and run.last_error.code == "server_error"


def test_cancel_while_streaming(client, server, scripted):
    thread = thread_with(client)
    script(server, slow_reply(words=300, delay_ms=20), thread_id=thread.id)
    events: list[str] = []
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=scripted.id) as stream:
        for event in stream:
            events.append(event.event)
            if event.event == "thread.run.created":
                run_id = event.data.id
            if event.event == "thread.message.delta" and events.count(event.event) == 2:
                client.beta.threads.runs.cancel(run_id, thread_id=thread.id)
        run = stream.get_final_run()
    # A piece decoded while the cancel travelled may still arrive between these two.
    assert events.index("thread.run.cancelling") > events.index("thread.message.delta")
    assert events[-3:] == ["thread.message.incomplete", "thread.run.step.cancelled",
                           "thread.run.cancelled"]
    assert run.status == "cancelled"
    (msg,) = client.beta.threads.messages.list(thread.id, run_id=run_id).data
    assert msg.status == "incomplete" and msg.content[0].text.value.startswith("w0 w1")
