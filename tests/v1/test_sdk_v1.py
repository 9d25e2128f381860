"""Apps on Assistants v1 (openai 1.20, `OpenAI-Beta: assistants=v1`) run unchanged but for
base_url: the seeds' v1 flows, assistant and message files, retrieval with quoted citations,
function calls and streams, on the same store as v2."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from openai import AssistantEventHandler

from fs_helpers import ZORBLAX, upload
from helpers import bad_request, dump, not_found
from runs_helpers import clear_script, script

V2 = {"OpenAI-Beta": "assistants=v2"}


def v2_get(server, path: str) -> dict:
    r = httpx.get(f"{server.base_url}{path}", headers=V2)
    assert r.status_code == 200, r.text
    return r.json()


def wait_on_run(client, run):
    """The seeds' own polling loop."""
    while run.status == "queued" or run.status == "in_progress":
        run = client.beta.threads.runs.retrieve(thread_id=run.thread_id, run_id=run.id)
        time.sleep(0.05)  # the seed's poll interval between GETs, not synchronisation
    return run


def test_seed_000_history_tutor_on_the_gguf(client):
    assistant = client.beta.assistants.create(
        name="History Tutor",
        instructions="You are a personal history tutor. Answer questions briefly, in three "
                     "sentence or less.",
        model="gpt-4-1106-preview",
    )
    shown = dump(assistant)
    assert shown["file_ids"] == [] and shown["tools"] == [] and shown["object"] == "assistant"
    assert "tool_resources" not in shown and "temperature" not in shown
    thread = client.beta.threads.create()
    assert set(dump(thread)) == {"id", "object", "created_at", "metadata"}
    message = client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="What year was the USA founded?")
    assert message.file_ids == [] and message.content[0].text.value.startswith("What year")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "queued" and run.file_ids == [] and run.tools == []
    run = wait_on_run(client, run)
    assert run.status == "completed" and run.usage.completion_tokens > 0
    messages = client.beta.threads.messages.list(thread_id=thread.id)
    assert [m.role for m in messages.data] == ["assistant", "user"]
    assert messages.data[0].content[0].text.value.strip()
    assert messages.data[0].run_id == run.id and messages.data[0].file_ids == []


def test_retrieval_assistant_with_file_ids_is_a_v2_file_search_assistant(fs_server, fs_client):
    client = fs_server.client()
    file = upload(fs_client, "zorblax.txt", ZORBLAX)
    assistant = client.beta.assistants.create(
        model="scripted", instructions="Answer from the files.",
        tools=[{"type": "code_interpreter"}, {"type": "retrieval"}], file_ids=[file.id])
    assert assistant.file_ids == [file.id]
    assert [t.type for t in assistant.tools] == ["code_interpreter", "retrieval"]
    as_v2 = v2_get(fs_server, f"/assistants/{assistant.id}")
    assert [t["type"] for t in as_v2["tools"]] == ["code_interpreter", "file_search"]
    assert as_v2["tool_resources"]["code_interpreter"] == {"file_ids": [file.id]}
    [store_id] = as_v2["tool_resources"]["file_search"]["vector_store_ids"]
    assert [f["id"] for f in v2_get(fs_server, f"/vector_stores/{store_id}/files")["data"]] == [
        file.id]

    clear_script(fs_server)
    thread = client.beta.threads.create(messages=[
        {"role": "user", "content": "Who invented the Zorblax engine?"}])
    script(fs_server, {"tool_calls": [{"type": "file_search",
                                       "file_search": {"query": "Zorblax engine inventor"}}]},
           {"text": "Mira Tell invented it in 1987【0:0†zorblax.txt】."}, thread_id=thread.id)
    run = wait_on_run(client, client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id))
    assert run.status == "completed" and run.file_ids == [file.id]
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    call = steps[0].step_details.tool_calls[0]
    assert call.type == "retrieval" and call.retrieval == {}
    [answer] = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    [citation] = answer.content[0].text.annotations
    text = answer.content[0].text.value
    assert text[citation.start_index:citation.end_index] == "【0:0†zorblax.txt】"
    assert citation.file_citation.file_id == file.id
    assert "Mira Tell" in citation.file_citation.quote
    # The same message through v2: the citation without v1's quote.
    [v2_answer] = v2_get(fs_server, f"/threads/{thread.id}/messages?run_id={run.id}")["data"]
    assert v2_answer["content"][0]["text"]["annotations"][0]["file_citation"] == {
        "file_id": file.id}

    # The v1-made assistant answers with citations through v2 as well.
    r = httpx.post(f"{fs_server.base_url}/threads", headers=V2, json={
        "messages": [{"role": "user", "content": "Which part does the engine need?"}]})
    v2_thread = r.json()["id"]
    script(fs_server, {"tool_calls": [{"type": "file_search",
                                       "file_search": {"query": "kelp valve part number"}}]},
           {"text": "The kelp valve XQ-7731【0:0†zorblax.txt】."}, thread_id=v2_thread)
    r = httpx.post(f"{fs_server.base_url}/threads/{v2_thread}/runs", headers=V2,
                   json={"assistant_id": assistant.id})
    assert r.status_code == 200, r.text
    wait_on_run(client, client.beta.threads.runs.retrieve(r.json()["id"], thread_id=v2_thread))
    [v2_reply] = v2_get(fs_server, f"/threads/{v2_thread}/messages?run_id={r.json()['id']}")[
        "data"]
    assert v2_reply["content"][0]["text"]["annotations"][0]["file_citation"] == {
        "file_id": file.id}


def test_assistant_files(fs_server, fs_client):
    client = fs_server.client()
    a = upload(fs_client, "a.txt", b"alpha")
    b = upload(fs_client, "b.txt", b"beta")
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "retrieval"}])
    made = client.beta.assistants.files.create(assistant_id=assistant.id, file_id=a.id)
    assert (made.id, made.object, made.assistant_id) == (a.id, "assistant.file", assistant.id)
    client.beta.assistants.files.create(assistant_id=assistant.id, file_id=b.id)
    listed = client.beta.assistants.files.list(assistant_id=assistant.id, order="asc")
    assert [f.id for f in listed.data] == [a.id, b.id]
    assert client.beta.assistants.retrieve(assistant.id).file_ids == [a.id, b.id]
    assert client.beta.assistants.files.retrieve(file_id=b.id, assistant_id=assistant.id).id == b.id
    gone = client.beta.assistants.files.delete(file_id=a.id, assistant_id=assistant.id)
    assert gone.deleted and gone.id == a.id
    assert client.beta.assistants.retrieve(assistant.id).file_ids == [b.id]
    [store_id] = v2_get(fs_server, f"/assistants/{assistant.id}")["tool_resources"][
        "file_search"]["vector_store_ids"]
    assert [f["id"] for f in v2_get(fs_server, f"/vector_stores/{store_id}/files")["data"]] == [
        b.id]
    body = not_found(client.beta.assistants.files.retrieve, file_id=a.id,
                     assistant_id=assistant.id)
    assert body["message"] == f"No assistant file found with id '{a.id}'."
    # file_ids on update replace the list.
    assert client.beta.assistants.update(assistant.id, file_ids=[a.id]).file_ids == [a.id]


def test_message_files(fs_server, fs_client):
    client = fs_server.client()
    file = upload(fs_client, "notes.txt", b"some notes")
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread_id=thread.id, role="user",
                                                  content="Read this.", file_ids=[file.id])
    assert message.file_ids == [file.id]
    [listed] = client.beta.threads.messages.files.list(message.id, thread_id=thread.id).data
    assert (listed.id, listed.object, listed.message_id) == (
        file.id, "thread.message.file", message.id)
    got = client.beta.threads.messages.files.retrieve(file.id, thread_id=thread.id,
                                                      message_id=message.id)
    assert got.id == file.id
    as_v2 = v2_get(fs_server, f"/threads/{thread.id}/messages/{message.id}")
    assert as_v2["attachments"] == [{"file_id": file.id, "tools": [
        {"type": "file_search"}, {"type": "code_interpreter"}]}]


def test_function_call_round_trip(fs_server):
    client = fs_server.client()
    weather = {"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}}}}}
    assistant = client.beta.assistants.create(model="scripted", tools=[weather])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    script(fs_server, {"tool_calls": [{"type": "function", "function": {
        "name": "get_weather", "arguments": {"city": "Oslo"}}}]}, {"text": "Cold."},
        thread_id=thread.id)
    run = wait_on_run(client, client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id))
    assert run.status == "requires_action"
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Oslo"}'
    run = client.beta.threads.runs.submit_tool_outputs(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id,
                                                           "output": "-5 C"}])
    run = wait_on_run(client, run)
    assert run.status == "completed"
    assert client.beta.threads.messages.list(thread.id).data[0].content[0].text.value == "Cold."


def test_streaming_with_an_event_handler(fs_server):
    client = fs_server.client()
    assistant = client.beta.assistants.create(model="scripted")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    script(fs_server, {"text": "Hello there, friend."}, thread_id=thread.id)
    seen: list[str] = []

    class Handler(AssistantEventHandler):
        def on_text_delta(self, delta, snapshot):
            seen.append(delta.value)

    with client.beta.threads.runs.create_and_stream(
            thread_id=thread.id, assistant_id=assistant.id, event_handler=Handler()) as stream:
        stream.until_done()
        final = stream.get_final_messages()
    assert "".join(seen) == "Hello there, friend."
    assert final[0].content[0].text.value == "Hello there, friend." and final[0].file_ids == []


def test_seed_001_stream_true_iterates_v1_events(fs_server, fs_client):
    client = fs_server.client()
    file = upload(fs_client, "zorblax.txt", ZORBLAX)
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "retrieval"}],
                                              file_ids=[file.id])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Zorblax?"}])
    script(fs_server, {"tool_calls": [{"type": "file_search", "file_search": {
        "query": "Zorblax"}}]}, {"text": "It runs on kelp【0:0†zorblax.txt】."},
        thread_id=thread.id)
    with client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                         stream=True) as stream:
        events = list(stream)
    names = [e.event for e in events]
    assert names[0] == "thread.run.created" and names[-1] == "thread.run.completed"
    step_deltas = [e.data.delta.step_details.tool_calls[0] for e in events
                   if e.event == "thread.run.step.delta"]
    assert step_deltas and step_deltas[0].type == "retrieval"
    cited = [a for e in events if e.event == "thread.message.delta"
             for a in (e.data.delta.content[0].text.annotations or [])]
    assert cited[0].file_citation.file_id == file.id and cited[0].file_citation.quote


def test_an_incomplete_run_shows_as_completed_with_its_reason(fs_server):
    client = fs_server.client()
    assistant = client.beta.assistants.create(model="scripted")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Long?"}])
    # Distinct words: the same word again and again would be a loop, which the loop guard ends.
    script(fs_server, {"text": " ".join(f"word{i}" for i in range(40))}, thread_id=thread.id)
    run = wait_on_run(client, client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=16))
    assert run.status == "completed" and run.incomplete_details.reason == "max_completion_tokens"
    assert v2_get(fs_server, f"/threads/{thread.id}/runs/{run.id}")["status"] == "incomplete"


def test_v2_assistant_seen_through_v1(fs_server, fs_client):
    file = upload(fs_client, "zorblax.txt", ZORBLAX)
    r = httpx.post(f"{fs_server.base_url}/assistants", headers=V2, json={
        "model": "scripted", "tools": [{"type": "file_search"}, {"type": "code_interpreter"}],
        "tool_resources": {"code_interpreter": {"file_ids": [file.id]},
                           "file_search": {"vector_stores": [{"file_ids": [file.id]}]}}})
    assert r.status_code == 200, r.text
    seen = fs_server.client().beta.assistants.retrieve(r.json()["id"])
    assert seen.file_ids == [file.id]
    assert [t.type for t in seen.tools] == ["retrieval", "code_interpreter"]


@pytest.mark.parametrize("extra", [
    {"tool_resources": {"code_interpreter": {"file_ids": []}}},
    {"temperature": 0.5},
    {"tools": [{"type": "file_search"}]},
])
def test_v2_only_parameters_are_refused_with_the_v1_header(fs_server, extra):
    client = fs_server.client()
    body = bad_request(client.beta.assistants.create, model="scripted", extra_body=extra)
    assert body["param"].split(".")[0].split("[")[0] == next(iter(extra))


def test_v2_only_message_parameters_are_refused_with_the_v1_header(fs_server):
    client = fs_server.client()
    thread = client.beta.threads.create()
    body = bad_request(client.beta.threads.messages.create, thread_id=thread.id, role="user",
                       content="x", extra_body={"attachments": []})
    assert body["param"] == "attachments"
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(thread_id=thread.id, role="user",
                                            content=[{"type": "text", "text": "x"}])


@pytest.mark.slow
def test_seed_001_complete_example_on_the_gguf(client):
    assistant = client.beta.assistants.create(
        name="问答助手", instructions="你是一个专业的知识问答助手", model="gpt-4-turbo",
        tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="2024巴黎奥运会的举办时间是哪天?")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    deadline = time.monotonic() + 120
    while True:  # the seed polls until "completed"; a deadline keeps a failure from hanging
        current_run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
        if current_run.status == "completed":
            break
        assert current_run.status in ("queued", "in_progress"), current_run.last_error
        assert time.monotonic() < deadline
        time.sleep(0.1)  # the seed's poll interval between GETs, not synchronisation
    messages = client.beta.threads.messages.list(thread.id)
    assert messages.data[0].role == "assistant" and messages.data[0].content[0].text.value
    older = client.beta.threads.messages.list(thread_id=thread.id, limit=10, order="desc",
                                              after=messages.data[0].id)
    assert [m.id for m in older.data] == [message.id]
