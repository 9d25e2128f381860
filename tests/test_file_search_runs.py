"""file_search inside runs on the scripted model: steps, citations, streams, thread stores."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from openai import AssistantEventHandler

from fs_helpers import PENGUINS, VOLCANO, ZORBLAX, ready_store, upload
from runs_helpers import clear_script, script

INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def store(fs_client):
    return ready_store(fs_client, {"zorblax.txt": ZORBLAX, "penguins.md": PENGUINS,
                                   "volcano.html": VOLCANO})[0]


@pytest.fixture()
def assistant(fs_client, fs_server, store):
    clear_script(fs_server)
    yield fs_client.beta.assistants.create(
        model="scripted", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    clear_script(fs_server)


def search(query: str) -> dict:
    return {"tool_calls": [{"type": "file_search", "file_search": {"query": query}}]}


def ask(client, text="Who invented the Zorblax engine?", **kwargs):
    return client.beta.threads.create(messages=[{"role": "user", "content": text, **kwargs}])


def assert_exact_annotations(text) -> None:
    for a in text.annotations:
        assert text.value[a.start_index:a.end_index] == a.text, (a, text.value)
        assert a.text.startswith("【") and a.text.endswith("】")


def test_search_step_results_and_exact_citations(fs_client, fs_server, assistant):
    thread = ask(fs_client)
    script(fs_server, search("Zorblax engine inventor"),
           {"text": "Mira Tell invented it 【0:0†zorblax.txt】. A made-up 【5:1†x.txt】 source."},
           thread_id=thread.id)
    run = fs_client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                      assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    steps = fs_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    (call,) = steps[0].step_details.tool_calls
    assert call.type == "file_search" and call.id.startswith("call_")
    fs = call.file_search
    assert fs.ranking_options.ranker == "default_2024_08_21"
    assert fs.ranking_options.score_threshold == 0.0
    assert fs.results[0].file_name == "zorblax.txt" and fs.results[0].content is None
    assert all(0 <= r.score <= 1 for r in fs.results)
    with_content = fs_client.beta.threads.runs.steps.retrieve(
        steps[0].id, thread_id=thread.id, run_id=run.id, include=[INCLUDE])
    top = with_content.step_details.tool_calls[0].file_search.results[0]
    assert "Mira Tell" in top.content[0].text and top.content[0].type == "text"

    (msg,) = fs_client.beta.threads.messages.list(thread.id, run_id=run.id).data
    text = msg.content[0].text
    # The marker pointing at no source is gone; the real one is annotated exactly.
    assert text.value == "Mira Tell invented it 【0:0†zorblax.txt】. A made-up  source."
    (ann,) = text.annotations
    assert ann.type == "file_citation" and ann.file_citation.file_id == fs.results[0].file_id
    assert_exact_annotations(text)


def test_a_scripted_reply_without_markers_is_returned_verbatim(fs_client, fs_server, assistant):
    # An app test compares exact text: the scripted model's reply is annotated only at the
    # markers it carries (a real model's supported sentences are cited for it: unit tests).
    thread = ask(fs_client)
    reply = "The Zorblax engine was invented by Mira Tell in Velmora. Also, I like turtles."
    script(fs_server, search("Zorblax"), {"text": reply}, thread_id=thread.id)
    run = fs_client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                      assistant_id=assistant.id)
    text = fs_client.beta.threads.messages.list(thread.id, run_id=run.id).data[0].content[0].text
    assert text.value == reply and text.annotations == []


def test_tool_settings_cap_results(fs_client, fs_server, store):
    clear_script(fs_server)
    capped = fs_client.beta.assistants.create(
        model="scripted", tools=[{"type": "file_search", "file_search": {
            "max_num_results": 1, "ranking_options": {"score_threshold": 0.2}}}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = ask(fs_client, "Where do emperor penguins live?")
    script(fs_server, search("penguins"), {"text": "Done."}, thread_id=thread.id)
    run = fs_client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=capped.id)
    step = fs_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    fs = step.step_details.tool_calls[0].file_search
    assert len(fs.results) == 1 and fs.results[0].file_name == "penguins.md"
    assert fs.ranking_options.score_threshold == 0.2


class Recorder(AssistantEventHandler):
    def __init__(self):
        super().__init__()
        self.events: list[str] = []
        self.annotations: list = []
        self.calls: list = []

    def on_event(self, event):
        self.events.append(event.event)
        if event.event == "thread.message.delta":
            for part in event.data.delta.content or []:
                self.annotations += (part.text.annotations or []) if part.text else []

    def on_tool_call_created(self, tool_call):
        self.calls.append(tool_call)


def test_stream_orders_search_step_then_cited_message(fs_client, fs_server, assistant):
    thread = ask(fs_client)
    script(fs_server, search("Zorblax"),
           {"text": "Mira Tell invented it.【0:0†zorblax.txt】 It runs on compressed kelp【0:0†zorblax.txt】."},
           thread_id=thread.id)
    rec = Recorder()
    with fs_client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                            event_handler=rec) as stream:
        stream.until_done()
        final = stream.get_final_messages()
    deltas = rec.events.count("thread.message.delta")
    assert rec.events == [
        "thread.run.created", "thread.run.queued", "thread.run.in_progress",
        "thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta",
        "thread.run.step.completed",
        "thread.run.step.created", "thread.run.step.in_progress",
        "thread.message.created", "thread.message.in_progress",
        *["thread.message.delta"] * deltas,
        "thread.message.completed", "thread.run.step.completed", "thread.run.completed"]
    assert [c.type for c in rec.calls] == ["file_search"]
    assert [a.index for a in rec.annotations] == list(range(len(rec.annotations)))
    stored = fs_client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert final == [stored]
    text = stored.content[0].text
    assert len(text.annotations) == len(rec.annotations) >= 2
    assert [(a.start_index, a.end_index) for a in rec.annotations] == [
        (a.start_index, a.end_index) for a in text.annotations]
    assert_exact_annotations(text)


def test_node_assistant_stream_accepts_the_search_run(fs_client, fs_server, assistant):
    thread = ask(fs_client)
    script(fs_server, search("Zorblax"), {"text": "Mira Tell made the Zorblax engine in 1987【0:0†zorblax.txt】."},
           thread_id=thread.id)
    out = subprocess.run(["node", str(NODE_DIR / "stream.mjs"), fs_server.base_url, assistant.id,
                          thread.id], capture_output=True, text=True, timeout=120, cwd=NODE_DIR,
                         check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["ok"], seen
    assert seen["run"]["status"] == "completed"
    assert seen["created"] == ["file_search"]
    (message,) = seen["messages"]
    (ann,) = message["annotations"]
    assert message["text"][ann["start_index"]:ann["end_index"]] == ann["text"]


def test_attachment_goes_to_the_threads_own_store(fs_client, fs_server):
    clear_script(fs_server)
    plain = fs_client.beta.assistants.create(model="scripted", tools=[{"type": "file_search"}])
    f = upload(fs_client, "orrin.html", VOLCANO)
    thread = ask(fs_client, "When did Mount Orrin erupt?",
                 attachments=[{"file_id": f.id, "tools": [{"type": "file_search"}]}])
    (store_id,) = thread.tool_resources.file_search.vector_store_ids
    store = fs_client.vector_stores.retrieve(store_id)
    assert store.expires_after.model_dump() == {"anchor": "last_active_at", "days": 7}
    assert store.file_counts.total == 1
    script(fs_server, search("Orrin eruption"), {"text": "Mount Orrin erupted in 1622【0:0†orrin.html】."},
           thread_id=thread.id)
    # The run waits for the attachment to be ingested before it searches.
    run = fs_client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=plain.id)
    step = fs_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    assert step.step_details.tool_calls[0].file_search.results[0].file_id == f.id
    text = fs_client.beta.threads.messages.list(thread.id, limit=1).data[0].content[0].text
    assert [a.file_citation.file_id for a in text.annotations] == [f.id]
    # A second attachment joins the same store.
    fs_client.beta.threads.messages.create(
        thread.id, role="user", content="and penguins?",
        attachments=[{"file_id": upload(fs_client, "p.md", PENGUINS).id,
                      "tools": [{"type": "file_search"}]}])
    again = fs_client.beta.threads.retrieve(thread.id)
    assert again.tool_resources.file_search.vector_store_ids == [store_id]
    assert fs_client.vector_stores.retrieve(store_id).file_counts.total == 2


def test_inline_vector_store_in_tool_resources(fs_client, fs_server):
    f = upload(fs_client, "zorblax.txt", ZORBLAX)
    assistant = fs_client.beta.assistants.create(
        model="scripted", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [f.id],
                                                           "metadata": {"made": "inline"}}]}})
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids
    store = fs_client.vector_stores.retrieve(store_id)
    assert store.metadata == {"made": "inline"} and store.file_counts.total == 1
    vsf = fs_client.vector_stores.files.poll(f.id, vector_store_id=store_id)
    assert vsf.status == "completed"


def test_unknown_vector_store_ids_are_refused(fs_client):
    from helpers import assert_param, bad_request

    body = bad_request(fs_client.beta.assistants.create, model="scripted",
                       tool_resources={"file_search": {"vector_store_ids": ["vs_missing"]}})
    assert_param(body, "tool_resources.file_search.vector_store_ids[0]")
