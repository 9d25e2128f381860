"""code_interpreter in responses on the scripted model, in real jailed kernels: `container:
auto` makes a container (Files copied in) that the chain keeps using; an explicit container
keeps its variables across responses and gains the files the code writes, downloadable as
container files and linked by container_file_citation; the events in OpenAI's order (the
Node SDK's ResponseStream checks them); outputs when included; and what is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import openai
import pytest

from helpers import api_error
from runs_helpers import clear_script, script

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def server(start_server):
    # A short wall-clock limit keeps the infinite-loop test quick.
    return start_server("responses-code", "--model", "scripted",
                        env={"AIRLOCK_CODE_POOL_SIZE": "1", "AIRLOCK_CODE_TIMEOUT_S": "4"})


@pytest.fixture()
def client(server):
    clear_script(server)
    c = server.client()
    yield c
    c.close()


def code(source: str) -> dict:
    return {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": source}}]}


def test_auto_container_computes_and_the_chain_keeps_it(client, server):
    data = client.files.create(file=("nums.txt", b"3\n4\n5\n"), purpose="assistants")
    script(server, code("print(sum(int(x) for x in open('/mnt/data/nums.txt')))"),
           {"text": "The sum is 12."})
    tools = [{"type": "code_interpreter", "container": {"type": "auto", "file_ids": [data.id]}}]
    r = client.responses.create(model="gpt-4o", input="Add the numbers.", tools=tools,
                                include=["code_interpreter_call.outputs"])
    assert r.status == "completed" and r.output_text == "The sum is 12."
    call, message = r.output
    assert call.type == "code_interpreter_call" and call.id.startswith("ci_")
    assert call.status == "completed" and "sum(" in call.code
    assert call.outputs[0].type == "logs" and call.outputs[0].logs.strip() == "12"
    container = client.containers.retrieve(call.container_id)
    assert container.status == "running" and container.name.startswith("auto-")
    assert [f.path for f in client.containers.files.list(container.id).data] == \
        ["/mnt/data/nums.txt"]

    # The chain goes on in the same container: its variables are there.
    script(server, code("total = 12\nprint(total * 2)"), {"text": "24."},
           code("print(total + 1)"), {"text": "13."})
    second = client.responses.create(model="gpt-4o", input="Double it.", tools=tools,
                                     previous_response_id=r.id)
    third = client.responses.create(model="gpt-4o", input="Add one.", tools=tools,
                                    previous_response_id=second.id,
                                    include=["code_interpreter_call.outputs"])
    assert second.output[0].container_id == third.output[0].container_id == container.id
    assert third.output[0].outputs[0].logs.strip() == "13"
    # Without include, no outputs.
    assert second.output[0].outputs is None


def test_an_explicit_container_keeps_state_and_files(client, server):
    box = client.containers.create(name="work")
    tools = [{"type": "code_interpreter", "container": box.id}]
    script(server, code("x = 41"), {"text": "Set."})
    client.responses.create(model="gpt-4o", input="Set x.", tools=tools)
    script(server, code("open('/mnt/data/out.csv', 'w').write(f'x,{x + 1}\\n')\nprint(x + 1)"),
           {"text": "Wrote [the file](sandbox:/mnt/data/out.csv)."})
    r = client.responses.create(model="gpt-4o", input="Write it.", tools=tools,
                                include=["code_interpreter_call.outputs"])
    assert r.output[0].outputs[0].logs.strip() == "42"
    (written,) = client.containers.files.list(box.id).data
    assert written.path == "/mnt/data/out.csv" and written.source == "assistant"
    content = client.containers.files.content.retrieve(written.id, container_id=box.id).read()
    assert content == b"x,42\n"
    (link,) = r.output[1].content[0].annotations
    assert link.type == "container_file_citation" and link.container_id == box.id
    assert link.file_id == written.id and link.filename == "out.csv"
    assert r.output_text[link.start_index:link.end_index] == "sandbox:/mnt/data/out.csv"


def test_the_stream_in_openais_order(client, server):
    script(server, code("print(6 * 7)"), {"text": "42."})
    with client.responses.stream(model="gpt-4o", input="Compute.", tools=[
            {"type": "code_interpreter", "container": {"type": "auto"}}]) as stream:
        kinds = [e.type for e in stream]
    assert kinds[:9] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta", "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed", "response.output_item.done"]
    assert kinds[-1] == "response.completed"


def test_the_node_sdk_stream_accepts_the_code_events(server):
    clear_script(server)
    script(server, code("print(6 * 7)"), {"text": "42."})
    tools = [{"type": "code_interpreter", "container": {"type": "auto"}}]
    out = subprocess.run(["node", str(NODE_DIR / "responses_tools.mjs"),
                          server.base_url, json.dumps(tools)],
                         capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["items"] == ["code_interpreter_call", "message"] and seen["text"] == "42."


def test_forced_and_background(client, server):
    script(server, code("print('forced')"), {"text": "Ran it."})
    r = client.responses.create(model="gpt-4o", input="x", background=True, tools=[
        {"type": "code_interpreter", "container": {"type": "auto"}}],
        tool_choice={"type": "code_interpreter"}, include=["code_interpreter_call.outputs"])
    with client.responses.retrieve(r.id, stream=True) as stream:
        kinds = [e.type for e in stream]
    assert "response.code_interpreter_call.interpreting" in kinds
    done = client.responses.retrieve(r.id)
    assert done.status == "completed" and done.output[0].outputs[0].logs.strip() == "forced"


@pytest.mark.parametrize("tool, param", [
    ({"type": "code_interpreter"}, "tools[0].container"),
    ({"type": "code_interpreter", "container": {"type": "auto", "network_policy": {
        "type": "allowlist", "allowed_domains": ["pypi.org"]}}},
     "tools[0].container.network_policy"),
    ({"type": "code_interpreter", "container": "cntr_missing"}, "container_id"),
    ({"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-x"]}},
     "file_ids[0]"),
])
def test_bad_code_interpreter_tools_are_refused(client, tool, param):
    with pytest.raises(openai.APIStatusError) as info:
        client.responses.create(model="gpt-4o", input="x", tools=[tool])
    assert info.value.status_code in (400, 404)
    assert info.value.body["param"] == param, info.value.body


def test_a_deleted_container_is_refused(client):
    box = client.containers.create(name="gone")
    client.containers.delete(box.id)
    api_error(openai.NotFoundError, client.responses.create, model="gpt-4o", input="x",
              tools=[{"type": "code_interpreter", "container": box.id}])


def test_max_tool_calls_caps_the_built_in_rounds(client, server):
    tools = [{"type": "code_interpreter", "container": {"type": "auto"}}]
    script(server, code("x = 1"), code("print(x)"), {"text": "Two rounds."})
    r = client.responses.create(model="gpt-4o", input="x", tools=tools)
    assert [i.type for i in r.output] == ["code_interpreter_call"] * 2 + ["message"]
    # Capped at one: after the first round no tool is offered, so the model must answer (the
    # scripted turn asking for code again answers with its empty text).
    script(server, code("x = 1"), code("print(x)"))
    r = client.responses.create(model="gpt-4o", input="x", tools=tools, max_tool_calls=1)
    assert [i.type for i in r.output] == ["code_interpreter_call", "message"]
    assert r.status == "completed" and r.max_tool_calls == 1


def test_containers_are_isolated_and_a_file_flood_is_capped(client, server):
    """The sandbox campaign's container cases: one container's files are not another's, and a
    cell writing thousands of files keeps a bounded number as container files."""
    mine, theirs = client.containers.create(name="a"), client.containers.create(name="b")
    script(server, code("open('/mnt/data/secret.txt', 'w').write('s3cret')"), {"text": "ok"})
    client.responses.create(model="gpt-4o", input="x", tools=[
        {"type": "code_interpreter", "container": mine.id}])
    probe = ("import os\nprint(sorted(os.listdir('/mnt/data')))\n"
             "print(os.path.exists('/mnt/data/secret.txt'))\n"
             "print([p for p in os.listdir('/mnt') if p != 'data'])")
    script(server, code(probe), {"text": "ok"})
    r = client.responses.create(model="gpt-4o", input="x", include=[
        "code_interpreter_call.outputs"], tools=[
        {"type": "code_interpreter", "container": theirs.id}])
    assert r.output[0].outputs[0].logs.split() == ["[]", "False", "[]"]
    assert client.containers.files.list(theirs.id).data == []

    flood = ("import os\nos.makedirs('/mnt/data/flood', exist_ok=True)\n"
             "for i in range(3000):\n    open(f'/mnt/data/flood/{i:05}.txt', 'w').write(str(i))")
    script(server, code(flood), {"text": "done"})
    r = client.responses.create(model="gpt-4o", input="x", include=[
        "code_interpreter_call.outputs"], tools=[
        {"type": "code_interpreter", "container": theirs.id}])
    assert r.status == "completed" and "more files" in r.output[0].outputs[0].logs
    kept = client.containers.files.list(theirs.id, limit=100).data
    assert 0 < len(kept) <= 20


def _logs(client, server, box: str, source: str) -> str:
    script(server, code(source), {"text": "ok"})
    r = client.responses.create(model="gpt-4o", input="x", include=[
        "code_interpreter_call.outputs"], tools=[{"type": "code_interpreter", "container": box}])
    assert r.status == "completed", r.error
    return "".join(o.logs for o in r.output[0].outputs if o.type == "logs")


def test_a_containers_budgets_hold_against_loops_and_fork_bombs(client, server):
    """The sandbox campaign's budget cases, through a container: an endless loop is
    interrupted at the time limit with the variables kept; a fork bomb stops at the process
    limit; the container works after both."""
    box = client.containers.create(name="bombs").id
    looped = _logs(client, server, box, "kept = 7\nwhile True:\n    pass")
    assert "timed out after 4 s" in looped and "variables are kept" in looped
    assert _logs(client, server, box, "print('alive', kept)") == "alive 7\n"
    bomb = ("import os\nkids = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
            "            import time\n            time.sleep(60)\n            os._exit(0)\n"
            "        kids += 1\nexcept OSError as e:\n"
            "    print('stopped after', kids > 0, type(e).__name__)")
    assert "stopped after True BlockingIOError" in _logs(client, server, box, bomb)
    assert _logs(client, server, box, "print(2 + 2)").endswith("4\n")
