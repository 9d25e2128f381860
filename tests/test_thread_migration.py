"""A thread becomes a conversation (airlock's own action, over HTTP and on the command line): a
thread with a function round, a file_search round and a chart converts to items a
`responses.create(conversation=...)` continues from, citations re-anchored without markers,
the chart and the written file as container files; the thread stays readable."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from fs_helpers import ZORBLAX, ready_store
from runs_helpers import clear_script, script

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}}}
CHART = ("import csv\nwith open('/mnt/data/squares.csv', 'w') as f:\n"
         "    csv.writer(f).writerows([[1, 1], [2, 4]])\n"
         "plt.plot([1, 4, 9]); plt.show()")


@pytest.fixture(scope="module")
def server(start_server):
    return start_server("migration", "--model", "scripted")


@pytest.fixture(scope="module")
def client(server):
    c = server.client()
    yield c
    c.close()


def turn(client, thread, assistant, text: str):
    client.beta.threads.messages.create(thread.id, role="user", content=text)
    return client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                    assistant_id=assistant.id)


@pytest.fixture(scope="module")
def thread(client, server):
    clear_script(server)
    store, _ = ready_store(client, {"zorblax.txt": ZORBLAX})
    asst = client.beta.assistants.create(
        model="scripted", tools=[WEATHER, {"type": "file_search"}, {"type": "code_interpreter"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = client.beta.threads.create()
    script(server, {"tool_calls": [{"type": "function", "function": {
        "name": "get_weather", "arguments": {"city": "Oslo"}}}]}, {"text": "It is 3 C."},
        thread_id=thread.id)
    run = turn(client, thread, asst, "Weather in Oslo?")
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id,
                                                           "output": "3 C"}])
    assert run.status == "completed"
    script(server, {"tool_calls": [{"type": "file_search", "file_search": {
        "query": "Zorblax inventor"}}]}, {"text": "Mira Tell 【0:0†zorblax.txt】 invented it."},
        thread_id=thread.id)
    assert turn(client, thread, asst, "Who invented the Zorblax engine?").status == "completed"
    script(server, {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {
        "input": CHART}}]}, {"text": "Data: [squares](sandbox:/mnt/data/squares.csv)."},
        thread_id=thread.id)
    assert turn(client, thread, asst, "Chart the squares.").status == "completed"
    return thread


def test_a_thread_becomes_a_conversation_a_response_continues(client, server, thread):
    before = [m.id for m in client.beta.threads.messages.list(thread.id, order="asc")]
    r = httpx.post(f"{server.root_url}/airlock/v1/threads/{thread.id}/conversation")
    assert r.status_code == 200, r.text
    conv = client.conversations.retrieve(r.json()["id"])
    assert conv.metadata == {"airlock_from_thread": thread.id}
    items = client.conversations.items.list(conv.id, order="asc", limit=100,
                                            include=["code_interpreter_call.outputs",
                                                     "file_search_call.results"]).data
    assert [(i.type, getattr(i, "role", None)) for i in items] == [
        ("message", "user"), ("function_call", None), ("function_call_output", None),
        ("message", "assistant"),
        ("message", "user"), ("file_search_call", None), ("message", "assistant"),
        ("message", "user"), ("code_interpreter_call", None), ("message", "assistant")]
    # Messages keep their ids; the call and its output share the run's call id.
    assert [i.id for i in items if i.type == "message"] == before
    assert items[1].call_id == items[2].call_id and items[2].output == "3 C"
    assert items[1].name == "get_weather" and '"Oslo"' in items[1].arguments
    # The citation is re-anchored: no marker left, the annotation where it stood.
    cited = items[6].content[0]
    assert cited.text == "Mira Tell invented it."
    (citation,) = cited.annotations
    assert citation.type == "file_citation" and citation.filename == "zorblax.txt"
    assert citation.index == len("Mira Tell")
    assert items[5].results[0].filename == "zorblax.txt"
    # The chart and the written file are the container's files; the link is cited.
    code = items[8]
    assert code.code == CHART and code.container_id.startswith("cntr_")
    assert [o.type for o in code.outputs] == ["image"]
    made = client.containers.files.list(code.container_id, order="asc").data
    assert sorted(f.path.rsplit(".", 1)[-1] for f in made) == ["csv", "png"]
    (link,) = items[9].content[0].annotations
    assert link.type == "container_file_citation" and link.filename == "squares.csv"
    text = items[9].content[0].text
    assert text[link.start_index:link.end_index] == "sandbox:/mnt/data/squares.csv"
    csv_file = next(f for f in made if f.path.endswith(".csv"))
    assert client.containers.files.content.retrieve(
        csv_file.id, container_id=code.container_id).read() == b"1,1\r\n2,4\r\n"

    # A response continues the conversation; the thread is unchanged and still readable.
    script(server, {"text": "You asked about Oslo, Zorblax and squares."})
    answer = client.responses.create(model="gpt-4o", input="What did I ask?",
                                     conversation=conv.id)
    assert answer.status == "completed"
    assert len(client.conversations.items.list(conv.id, limit=100).data) == len(items) + 2
    assert [m.id for m in client.beta.threads.messages.list(thread.id, order="asc")] == before


def test_the_command_line_migrates_on_the_same_store(server, thread):
    database = [a for a in server.extra_args if a.startswith("postgresql")]
    cmd = [sys.executable, "-m", "airlock", "migrate-thread", thread.id,
           "--data-dir", str(server.data_dir)]
    if database:
        cmd += ["--database-url", database[0]]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    conv_id = done.stdout.strip().splitlines()[-1]
    assert conv_id.startswith("conv_")
    r = httpx.get(f"{server.base_url}/conversations/{conv_id}/items?limit=100",
                  headers={"Authorization": "Bearer x"})
    assert r.status_code == 200 and len(r.json()["data"]) == 10
    missing = subprocess.run([*cmd[:4], "thread_missing", *cmd[5:]], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode != 0 and "thread_missing" in missing.stderr


def test_an_unknown_thread_is_a_404(server):
    r = httpx.post(f"{server.root_url}/airlock/v1/threads/thread_missing/conversation")
    assert r.status_code == 404 and "thread_missing" in r.json()["error"]["message"]


def test_the_readmes_file_search_walkthrough(client, server):
    """README, "Walking the file_search tutorial across": the same calls, on the scripted model."""
    clear_script(server)
    store, files = ready_store(client, {"paper.txt": ZORBLAX})
    tutor = client.beta.assistants.create(
        model="scripted", name="Math Tutor", tools=[{"type": "file_search"}],
        instructions="You are a personal math tutor. Answer questions briefly.",
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = client.beta.threads.create(messages=[{"role": "user",
                                                   "content": "What is in the paper?"}])
    search = {"tool_calls": [{"type": "file_search", "file_search": {"query": "paper"}}]}
    script(server, search, {"text": "A kelp engine 【0:0†paper.txt】."}, thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=tutor.id)
    assert run.status == "completed"

    script(server, search, {"text": "Mira Tell's engine 【0:0†paper.txt】."})
    r = client.responses.create(prompt={"id": tutor.id}, input="What is in the paper?")
    (citation,) = r.output[-1].content[0].annotations
    assert citation.file_id == files["paper.txt"].id and r.output_text == "Mira Tell's engine."

    conv_id = httpx.post(f"{server.root_url}/airlock/v1/threads/{thread.id}/conversation"
                         ).json()["id"]
    script(server, {"text": "It needs kelp."}, thread_id=conv_id)
    r = client.responses.create(prompt={"id": tutor.id}, conversation=conv_id,
                                input="And the second point?")
    assert r.output_text == "It needs kelp."
    script(server, search, {"text": "Invented in 1987 【0:0†paper.txt】."}, thread_id=conv_id)
    r = client.responses.create(
        model="gpt-4o", input="Explain it in two sentences.", conversation=conv_id,
        instructions="You are a personal math tutor. Answer questions briefly.",
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
    assert [i.type for i in r.output] == ["file_search_call", "message"]
    assert r.output_text == "Invented in 1987."
