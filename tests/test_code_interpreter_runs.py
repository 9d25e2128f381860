"""code_interpreter in runs on the scripted model: exact code in a jailed kernel per thread,
outputs as steps, images and files as Files, and the sandbox's limits as a user sees them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from openai import AssistantEventHandler

from helpers import upload
from runs_helpers import clear_script, script

NODE_DIR = Path(__file__).parent / "node"
FIB = """def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
print(fib(20))"""


@pytest.fixture(scope="module")
def ci_server(start_server):
    # A short wall-clock limit keeps the infinite-loop test quick.
    return start_server("code", "--model", "scripted",
                        env={"AIRLOCK_CODE_TIMEOUT_S": "4", "AIRLOCK_CODE_POOL_SIZE": "1"})


@pytest.fixture(scope="module")
def ci(ci_server):
    c = ci_server.client()
    yield c
    c.close()


@pytest.fixture()
def assistant(ci, ci_server):
    clear_script(ci_server)
    yield ci.beta.assistants.create(model="scripted", tools=[{"type": "code_interpreter"}])
    clear_script(ci_server)


def code(source: str) -> dict:
    return {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": source}}]}


def run_code(ci, server, assistant, source: str, answer: str = "Done.", thread=None):
    """Runs `source` through a scripted run; returns (run, code step's call, thread)."""
    thread = thread or ci.beta.threads.create(messages=[{"role": "user", "content": "run it"}])
    script(server, code(source), {"text": answer}, thread_id=thread.id)
    run = ci.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    steps = ci.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    calls = [c for s in steps if s.type == "tool_calls" for c in s.step_details.tool_calls]
    return run, (calls[0] if calls else None), thread


def logs(call) -> str:
    return "".join(o.logs for o in call.code_interpreter.outputs if o.type == "logs")


def test_fibonacci_prints_6765_in_logs(ci, ci_server, assistant):
    run, call, thread = run_code(ci, ci_server, assistant, FIB)
    assert run.status == "completed", run.last_error
    assert call.type == "code_interpreter" and call.id.startswith("call_")
    assert call.code_interpreter.input == FIB
    assert [o.type for o in call.code_interpreter.outputs] == ["logs"]
    assert logs(call) == "6765\n"
    steps = ci.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].status == "completed" and steps[0].completed_at is not None


def test_chart_comes_back_as_a_png_file_and_image_part(ci, ci_server, assistant):
    run, call, thread = run_code(ci, ci_server, assistant,
                                 "plt.plot([1, 4, 9, 16])\nplt.title('squares')\nplt.show()",
                                 answer="Here is the chart.")
    (image,) = [o for o in call.code_interpreter.outputs if o.type == "image"]
    f = ci.files.retrieve(image.image.file_id)
    assert f.purpose == "assistants_output" and f.filename.endswith(".png")
    assert ci.files.content(f.id).content[:8] == b"\x89PNG\r\n\x1a\n"
    (msg,) = ci.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert [p.type for p in msg.content] == ["text", "image_file"]
    assert msg.content[1].image_file.file_id == f.id


def test_csv_written_to_mnt_data_becomes_a_file_with_a_file_path_link(ci, ci_server, assistant):
    answer = "Saved it: [data.csv](sandbox:/mnt/data/data.csv)."
    run, call, thread = run_code(
        ci, ci_server, assistant,
        "import pandas as pd\npd.DataFrame({'n': [1, 2, 3]}).to_csv('/mnt/data/data.csv', "
        "index=False)", answer=answer)
    text = ci.beta.threads.messages.list(thread.id, run_id=run.id).data[0].content[0].text
    assert text.value == answer
    (ann,) = text.annotations
    assert ann.type == "file_path" and ann.text == "sandbox:/mnt/data/data.csv"
    assert text.value[ann.start_index:ann.end_index] == ann.text
    f = ci.files.retrieve(ann.file_path.file_id)
    assert f.filename == "data.csv" and f.purpose == "assistants_output"
    assert ci.files.content(f.id).content == b"n\n1\n2\n3\n"


def test_state_persists_across_runs_of_a_thread(ci, ci_server, assistant):
    _, _, thread = run_code(ci, ci_server, assistant, "secret_number = 41")
    run, call, _ = run_code(ci, ci_server, assistant, "print(secret_number + 1)", thread=thread)
    assert run.status == "completed" and logs(call) == "42\n"
    # Another thread has its own kernel.
    _, other, _ = run_code(ci, ci_server, assistant, "print('secret_number' in globals())")
    assert logs(other) == "False\n"


def test_input_files_are_at_mnt_data_under_their_names(ci, ci_server):
    clear_script(ci_server)
    sales = upload(ci, b"month,total\njan,10\nfeb,32\n", "sales.csv", "text/csv")
    notes = upload(ci, b"remember the milk", "notes.txt")
    assistant = ci.beta.assistants.create(
        model="scripted", tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [sales.id]}})
    thread = ci.beta.threads.create(messages=[{
        "role": "user", "content": "sum it",
        "attachments": [{"file_id": notes.id, "tools": [{"type": "code_interpreter"}]}]}])
    run, call, _ = run_code(ci, ci_server, assistant,
                            "import pandas as pd\nprint(pd.read_csv('/mnt/data/sales.csv').total.sum())\n"
                            "print(open('/mnt/data/notes.txt').read())", thread=thread)
    assert logs(call) == "42\nremember the milk\n"
    # Input files are not reported back as outputs.
    assert [o.type for o in call.code_interpreter.outputs] == ["logs"]


class Recorder(AssistantEventHandler):
    def __init__(self):
        super().__init__()
        self.events: list[str] = []
        self.outputs: list = []

    def on_event(self, event):
        self.events.append(event.event)

    def on_tool_call_delta(self, delta, snapshot):
        if delta.type == "code_interpreter" and delta.code_interpreter.outputs:
            self.outputs += delta.code_interpreter.outputs


def test_stream_follows_ordering_c(ci, ci_server, assistant):
    thread = ci.beta.threads.create(messages=[{"role": "user", "content": "chart"}])
    script(ci_server, code("print(1 + 1)\nplt.plot([1, 2]); plt.show()"), {"text": "Two."},
           thread_id=thread.id)
    rec = Recorder()
    with ci.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                     event_handler=rec) as stream:
        stream.until_done()
        final = stream.get_final_messages()
        steps = stream.get_final_run_steps()
    deltas = rec.events.count("thread.message.delta")
    assert rec.events == [
        "thread.run.created", "thread.run.queued", "thread.run.in_progress",
        "thread.run.step.created", "thread.run.step.in_progress",
        "thread.run.step.delta", "thread.run.step.delta",  # identity, then input
        "thread.run.step.delta", "thread.run.step.delta",  # logs, then image
        "thread.run.step.completed",
        "thread.run.step.created", "thread.run.step.in_progress",
        "thread.message.created", "thread.message.in_progress",
        *["thread.message.delta"] * deltas,
        "thread.message.completed", "thread.run.step.completed", "thread.run.completed"]
    assert [(o.index, o.type) for o in rec.outputs] == [(0, "logs"), (1, "image")]
    ci_call = steps[0].step_details.tool_calls[0].code_interpreter
    assert ci_call.input == "print(1 + 1)\nplt.plot([1, 2]); plt.show()"
    assert ci_call.outputs[0].logs == "2\n"
    stored = ci.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert final == [stored] and [p.type for p in stored.content] == ["text", "image_file"]


def test_node_assistant_stream_accepts_the_code_run(ci, ci_server, assistant):
    thread = ci.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    script(ci_server, code("print(6 * 7)"), {"text": "It is 42."}, thread_id=thread.id)
    out = subprocess.run(["node", str(NODE_DIR / "stream.mjs"), ci_server.base_url, assistant.id,
                          thread.id], capture_output=True, text=True, timeout=120, cwd=NODE_DIR,
                         check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["ok"], seen
    assert seen["created"] == ["code_interpreter"] and seen["run"]["status"] == "completed"
    assert [m["text"] for m in seen["messages"]] == ["It is 42."]


def test_deleting_a_thread_removes_its_files(ci, ci_server, assistant):
    _, call, thread = run_code(ci, ci_server, assistant,
                               "open('/mnt/data/keep.txt', 'w').write('x')\nimport os\n"
                               "print(os.listdir('/mnt/data'))")
    assert "keep.txt" in logs(call)
    ci.beta.threads.delete(thread.id)
    workdir = ci_server.data_dir / "sandbox" / "threads" / thread.id
    assert not workdir.exists()


# --- the sandbox, as a user's code sees it ---------------------------------------------------


def healthy(server) -> None:
    assert httpx.get(f"{server.root_url}/health", timeout=10).status_code == 200


def test_no_network_not_even_the_airlock_port(ci, ci_server, assistant):
    probe = f"""import socket
for host, port in [('127.0.0.1', {ci_server.port}), ('1.1.1.1', 53)]:
    try:
        socket.create_connection((host, port), timeout=2)
        print('open', port)
    except OSError as e:
        print('blocked', port)
try:
    socket.getaddrinfo('pypi.org', 443)
    print('dns ok')
except OSError:
    print('dns blocked')"""
    _, call, _ = run_code(ci, ci_server, assistant, probe)
    assert logs(call) == f"blocked {ci_server.port}\nblocked 53\ndns blocked\n"
    healthy(ci_server)


def test_data_dir_and_database_cannot_be_read(ci, ci_server, assistant):
    data = ci_server.data_dir
    probe = f"""import os
for path in [{str(data / 'airlock.sqlite3')!r}, {str(data / 'files')!r}, {str(data)!r}]:
    try:
        open(path, 'rb').read(16) if path.endswith('sqlite3') else os.listdir(path)
        print('readable', os.listdir(path) if os.path.isdir(path) else path)
    except OSError as e:
        print('denied')"""
    _, call, _ = run_code(ci, ci_server, assistant, probe)
    out = logs(call)
    # The data dir is hidden behind an empty tmpfs: the database file is not there at all.
    assert "airlock.sqlite3" not in out and "file-" not in out, out
    assert out.count("denied") + out.count("readable []") == 3, out


def test_nothing_can_be_written_outside_mnt_data(ci, ci_server, assistant):
    probe = """import os
for path in ['/x.txt', '/usr/x.txt', '/etc/x.txt', '/root/x.txt', '/mnt/x.txt', os.__file__]:
    try:
        with open(path, 'a') as f:
            f.write('x')
        print('wrote', path)
    except OSError:
        print('denied')
open('/tmp/private.txt', 'w').write('jail tmp')
open('/mnt/data/ok.txt', 'w').write('fine')
print('mnt ok')"""
    _, call, _ = run_code(ci, ci_server, assistant, probe)
    assert logs(call) == "denied\n" * 6 + "mnt ok\n"
    assert not Path("/tmp/private.txt").exists()  # the jail's /tmp is its own


def test_thread_a_cannot_see_thread_b_files(ci, ci_server, assistant):
    _, _, thread_b = run_code(ci, ci_server, assistant,
                              "open('/mnt/data/b_secret.txt', 'w').write('b')")
    host_dir = ci_server.data_dir / "sandbox" / "threads" / thread_b.id
    assert (host_dir / "b_secret.txt").exists()
    probe = f"""import os
print(os.listdir('/mnt/data'), os.listdir('/mnt'))
print(os.path.exists({str(host_dir)!r}), os.path.exists({str(host_dir / 'b_secret.txt')!r}))"""
    _, call, _ = run_code(ci, ci_server, assistant, probe)
    assert logs(call) == "[] ['data']\nFalse False\n"


def test_memory_bomb_fails_inside_the_sandbox(ci, ci_server, assistant):
    run, call, thread = run_code(ci, ci_server, assistant, "x = bytearray(8 * 1024 ** 3)")
    assert run.status == "completed"
    assert "MemoryError" in logs(call)
    _, after, _ = run_code(ci, ci_server, assistant, "print('still here')", thread=thread)
    assert logs(after) == "still here\n"
    healthy(ci_server)


def test_infinite_loop_times_out_and_the_next_execution_works(ci, ci_server, assistant):
    run, call, thread = run_code(ci, ci_server, assistant, "kept = 7\nwhile True:\n    pass")
    assert run.status == "completed"
    assert "KeyboardInterrupt" in logs(call)
    assert logs(call).endswith("[Execution timed out after 4 s and was interrupted; the kernel's "
                               "variables are kept.]\n")
    _, after, _ = run_code(ci, ci_server, assistant, "print('alive', kept)", thread=thread)
    assert logs(after) == "alive 7\n"
    healthy(ci_server)


def test_fork_bomb_is_contained(ci, ci_server, assistant):
    bomb = """import os
kids = 0
try:
    while True:
        if os.fork() == 0:
            import time
            time.sleep(60)
            os._exit(0)
        kids += 1
except OSError as e:
    print('stopped after', kids > 0, type(e).__name__)"""
    run, call, thread = run_code(ci, ci_server, assistant, bomb)
    assert run.status == "completed"
    # The limit stops the forks; the pool's watchdog may also kill the children and say so,
    # before or after the cell's own line, depending on which acts first.
    out = re.sub(r"\n\[The cell reached the limit of 64 processes and threads; "
                 r"its \d+ processes were killed\.\]\n", "", logs(call))
    assert out == "stopped after True BlockingIOError\n", logs(call)
    _, after, _ = run_code(ci, ci_server, assistant, "print(2 + 2)", thread=thread)
    assert logs(after).endswith("4\n")
    healthy(ci_server)


def test_without_a_sandbox_the_tool_refuses_clearly(start_server):
    srv = start_server("code_no_bwrap", "--model", "scripted",
                       env={"AIRLOCK_BWRAP": "/nonexistent/bwrap"})
    client = srv.client()
    clear_script(srv)
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "code_interpreter"}])
    run, _, _ = run_code(client, srv, assistant, "print(1)")
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    assert "code_interpreter is unavailable" in run.last_error.message
    assert "bwrap" in run.last_error.message or "bubblewrap" in run.last_error.message
    srv.wait_for_log("code_interpreter disabled", "apt-get install bubblewrap")
    healthy(srv)


def test_operator_may_allow_unsandboxed_code_with_a_warning(start_server):
    srv = start_server("code_unsandboxed", "--model", "scripted", "--allow-unsandboxed-code",
                       env={"AIRLOCK_BWRAP": "/nonexistent/bwrap"})
    client = srv.client()
    clear_script(srv)
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "code_interpreter"}])
    run, call, _ = run_code(client, srv, assistant, "print(3 * 3)")
    assert run.status == "completed" and logs(call) == "9\n"
    srv.wait_for_log("WITHOUT a sandbox")


def test_kernels_stop_with_the_server(start_server):
    import psutil

    srv = start_server("code_shutdown", "--model", "scripted",
                       env={"AIRLOCK_CODE_POOL_SIZE": "1"})
    client = srv.client()
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "code_interpreter"}])
    for _ in range(2):  # two threads: two kernels, plus the pre-warmed one
        run, call, _ = run_code(client, srv, assistant, "print('up')")
        assert logs(call) == "up\n"
    kernels = psutil.Process(srv.proc.pid).children(recursive=True)
    assert len(kernels) >= 2
    srv.stop()
    assert not [p for p in kernels if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_the_model_is_told_when_state_was_reset():
    from airlock.engine.core.builtins import RESET_NOTE, for_model
    from airlock.tools.code_interpreter import Execution

    told = for_model(Execution(logs="NameError: name 'x' is not defined\n", state_reset=True),
                      [], {})
    assert told.startswith(RESET_NOTE) and "NameError" in told
    assert RESET_NOTE not in for_model(Execution(logs="1\n"), [], {})
