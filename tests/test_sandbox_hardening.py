"""The code_interpreter sandbox under attack: each test reproduces one finding of the security
campaign (the number in its docstring) and checks that it stays fixed.

Most drive `KernelPool` directly, like test_code_interpreter_sandbox.py; where the behaviour is
the engine's (Files made from outputs, what the model reads back, input file names) they go
through the API with a scripted code_interpreter call, like test_code_interpreter_runs.py.
Bounded: children allocate at most 500 MiB each against a 1 GiB kernel budget.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from airlock.tools.code_interpreter import Execution, KernelPool, Limits, procs
from airlock.tools.code_interpreter import jail as jail_mod
from runs_helpers import clear_script, script

pytestmark = pytest.mark.slow

MB = 1024**2


def limits(**kw) -> Limits:
    """Limits with the knobs this version has (so the tests also run on older code)."""
    known = {f.name for f in dataclasses.fields(Limits)}
    return Limits(**{k: v for k, v in kw.items() if k in known})


def make_pool(root: Path, lim: Limits, **kw) -> KernelPool:
    params = inspect.signature(KernelPool).parameters
    return KernelPool(root, lim, **{k: v for k, v in kw.items() if k in params})


LIMITS = limits(memory_bytes=1024 * MB, file_size_bytes=32 * MB, processes=64,
                exec_timeout_s=30.0, interrupt_grace_s=2.0, pool_size=1,
                disk_bytes=64 * MB, disk_files=2000, output_files=5)


def _needs_bwrap() -> None:
    if not jail_mod.BWRAP:
        pytest.skip("bubblewrap is not installed")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    _needs_bwrap()
    data = tmp_path_factory.mktemp("hardening-data")
    p = make_pool(data / "code_interpreter", LIMITS, hide=[data])
    assert p.available() is None, p.available()
    p.start()
    yield p
    p.shutdown()


def run(pool: KernelPool, thread: str, code: str, **kw) -> Execution:
    ex = pool.execute(thread, code, **kw)
    assert isinstance(ex, Execution)
    return ex


def run_json(pool: KernelPool, thread: str, code: str):
    ex = run(pool, thread, code)
    assert not ex.error, ex.logs
    return json.loads([line for line in ex.logs.splitlines() if line.startswith("{")][-1])


def _kernel_pid(pool: KernelPool, thread: str) -> int:
    kernel = pool._threads[thread].kernel
    assert kernel is not None and kernel.pid is not None
    return kernel.pid


def _uid_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _count_uid(uid: int) -> int:
    return sum(1 for e in os.scandir("/proc") if e.name.isdigit() and _uid_of(int(e.name)) == uid)


# -- 2. one memory budget per kernel, not per process ----------------------------------------

FORK_AND_HOLD = """
import json, os
kids = []
for i in range(3):
    rep_r, rep_w = os.pipe()
    rel_r, rel_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for _, r, w in kids:
            os.close(r); os.close(w)
        os.close(rep_r); os.close(rel_w)
        try:
            hog = bytearray(500 * 1024**2)
            os.write(rep_w, b'k')
        except MemoryError:
            os.write(rep_w, b'm')
        while os.read(rel_r, 1) == b'p':  # a ping: answer that it still holds its memory
            os.write(rep_w, b'y')
        os._exit(0)
    os.close(rep_w); os.close(rel_r)
    kids.append((pid, rep_r, rel_w))
reports = [os.read(r, 1).decode() or 'killed' for _, r, _ in kids]
holding = 0
for (pid, r, w), rep in zip(kids, reports):
    if rep == 'k':
        try:
            os.write(w, b'p')
            holding += os.read(r, 1) == b'y'
        except OSError:
            pass
for pid, r, w in kids:
    os.close(w); os.close(r)
    os.waitpid(pid, 0)
print(json.dumps({'reports': reports, 'holding': holding}))
"""


def test_memory_budget_is_per_kernel_and_holds_against_fork(pool):
    """2: three forked children touching 500 MiB each, against a 1 GiB budget for the kernel:
    at most one of them can hold its memory at a time (each process alone fits)."""
    if not getattr(pool, "accounting", "cgroup").startswith("cgroup"):
        pytest.skip(f"no cgroup here ({pool.accounting}); the fallback has its own test")
    run(pool, "forker", "kept = 'yes'")
    out = run_json(pool, "forker", FORK_AND_HOLD)
    assert out["holding"] <= 1, out
    ex = run(pool, "forker", "print(kept)")
    assert ex.logs == "yes\n" or ex.state_reset, ex.logs


FORK_AND_HOG = """
import os, signal
kids = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        hog = bytearray(500 * 1024**2)
        while True:
            signal.pause()
    kids.append(pid)
print(sorted(os.WTERMSIG(os.waitpid(p, 0)[1]) for p in kids))
"""


def test_memory_budget_without_cgroups_kills_the_forks(tmp_path):
    """2, fallback: without a cgroup the pool sums the jail's memory (PSS) while a cell runs and
    kills the cell's processes past the budget."""
    _needs_bwrap()
    p = make_pool(tmp_path / "ci", limits(memory_bytes=1024 * MB, pool_size=0,
                                           exec_timeout_s=20.0, interrupt_grace_s=2.0),
                  cgroups=False)
    try:
        assert getattr(p, "accounting", "procfs") == "procfs"
        run(p, "t", "kept = 1")
        ex = run(p, "t", FORK_AND_HOG)
        assert not ex.timed_out, ex.logs
        assert "[9, 9, 9]" in ex.logs and "memory" in ex.logs, ex.logs
        assert run(p, "t", "print(kept)").logs == "1\n"
    finally:
        p.shutdown()


# -- 3. uids are unique per server -----------------------------------------------------------

def _kernel_uids_of(pid: int) -> set[int]:
    return {u for p in procs.descendants(pid) if (u := _uid_of(p)) not in (None, 0)}


def test_uids_do_not_collide_with_another_server(tmp_path, start_server):
    """3: another airlock server with a pre-warmed kernel runs on this host; a new pool's kernels
    get other uids, so its fork bomb is counted (and contained) on its own uid alone."""
    _needs_bwrap()
    if os.geteuid() != 0:
        pytest.skip("kernels switch uid only when the server runs as root")
    other = start_server("other-server", "--model", "scripted",
                         env={"AIRLOCK_CODE_POOL_SIZE": "1"})
    deadline = time.monotonic() + 60
    while not (theirs := _kernel_uids_of(other.proc.pid)):
        assert time.monotonic() < deadline, "the other server pre-warmed no kernel"
        time.sleep(0.05)  # poll interval while its kernel starts, not synchronisation
    p = make_pool(tmp_path / "ci", limits(processes=64, pool_size=0, exec_timeout_s=30.0,
                                           interrupt_grace_s=2.0))
    q = make_pool(tmp_path / "ci2", limits(pool_size=0))
    try:
        uid = int(run(p, "t", "import os\nprint(os.getuid())").logs)
        assert uid not in theirs, (uid, theirs)
        uid2 = int(run(q, "t", "import os\nprint(os.getuid())").logs)
        assert uid2 != uid and uid2 not in theirs
        ex = run(p, "t", "import os\nwhile True:\n    os.fork()", timeout_s=20)
        assert ex.error and "BlockingIOError" in ex.logs, ex.logs[-2000:]
        assert _count_uid(uid) <= 1
        assert run(p, "t", "print('fine')").logs == "fine\n"
        assert _kernel_uids_of(other.proc.pid) == theirs  # its kernel was not disturbed
    finally:
        p.shutdown()
        q.shutdown()
        other.stop()


# -- 4. no user namespaces, no dangerous syscalls --------------------------------------------

SYSCALLS = {  # x86_64, aarch64
    "clone": (56, 220), "clone3": (435, 435), "keyctl": (250, 219),
    "io_uring_setup": (425, 425),
}


def test_no_nested_user_namespaces_or_dangerous_syscalls(pool):
    """4: `unshare -Ur` gave uid 0 with full capabilities in a new namespace; a seccomp filter
    now denies namespaces and other kernel attack surface, while threads and subprocesses work."""
    arch = os.uname().machine
    if arch not in ("x86_64", "aarch64"):
        pytest.skip(f"syscall numbers not listed for {arch}")
    nr = {k: v[0 if arch == "x86_64" else 1] for k, v in SYSCALLS.items()}
    code = textwrap.dedent(f"""
        import ctypes, json, os, subprocess, threading
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        out = {{}}
        def sc(name, *args):
            ctypes.set_errno(0)
            res = libc.syscall({nr!r}[name], *[ctypes.c_long(a) for a in args])
            if res == 0 and name == 'clone':
                os._exit(0)  # a child was made after all: it must not run the rest
            if res > 0 and name == 'clone':
                os.waitpid(res, 0)
            return 'ok' if res >= 0 else ctypes.get_errno()
        r = subprocess.run(['unshare', '-Ur', 'id'], capture_output=True, text=True)
        out['unshare_cmd'] = [r.returncode, r.stdout.strip()]
        ctypes.set_errno(0)
        out['unshare'] = 'ok' if libc.unshare(0x10000000) == 0 else ctypes.get_errno()
        out['clone_newuser'] = sc('clone', 0x10000000 | 17, 0, 0, 0, 0)
        out['clone3'] = sc('clone3', 0, 0)
        out['keyctl'] = sc('keyctl', 0, -3, 0)
        params = ctypes.create_string_buffer(120)
        out['io_uring'] = sc('io_uring_setup', 1, ctypes.addressof(params))
        t = threading.Thread(target=lambda: None); t.start(); t.join()
        out['subprocess'] = subprocess.run(['echo', 'hi'], capture_output=True, text=True).stdout
        out['seccomp'] = [l.split()[1] for l in open('/proc/self/status') if l.startswith('Seccomp:')]
        print(json.dumps(out))
    """)
    out = run_json(pool, "ns", code)
    EPERM, ENOSYS = 1, 38
    assert out["unshare_cmd"][0] != 0 and "uid=0" not in out["unshare_cmd"][1], out
    assert out["unshare"] == EPERM and out["clone_newuser"] == EPERM, out
    assert out["clone3"] == ENOSYS, out  # glibc falls back to clone, which the filter can read
    assert out["keyctl"] == EPERM and out["io_uring"] == EPERM, out
    assert out["subprocess"] == "hi\n" and out["seccomp"] == ["2"], out


# -- 5. a deep directory tree ----------------------------------------------------------------

def test_deep_directory_tree_does_not_break_the_thread(pool):
    """5: the host-side walk recursed; 1500 nested dirs broke the thread for good."""
    ex = run(pool, "deep", "import os\nfor i in range(1500):\n    os.mkdir('d'); os.chdir('d')\n"
                           "open('bottom.txt', 'w').write('x')\nprint('made')")
    assert ex.logs.startswith("made\n"), ex.logs
    assert run(pool, "deep", "print('next')").logs == "next\n"
    ex = run(pool, "deep", "os.chdir('/mnt/data')\nopen('top.txt', 'w').write('t')")
    assert ex.files == ["top.txt"], ex.files
    top = pool.workdir("deep")
    pool.drop("deep")
    assert not top.exists()


# -- 6. output-file flood --------------------------------------------------------------------

def test_output_files_are_capped_per_execution(pool):
    """6: every file a cell wrote became a File; now the first few do, the rest are named in
    the logs."""
    ex = run(pool, "flood", "for i in range(300):\n    open(f'f{i:04}.txt', 'w').write('x')")
    assert len(ex.files) == 5, len(ex.files)
    assert ex.files == sorted(ex.files) and ex.files[0] == "f0000.txt"
    assert "295 more files" in ex.logs, ex.logs
    pool.drop("flood")


def test_what_the_model_reads_back_is_bounded():
    """6: the list of files sent back to the model was not truncated (invalid_prompt)."""
    from airlock.engine.core.builtins import for_model

    produced = {f"/mnt/data/{'x' * 200}{i}.txt": f"file-{i}" for i in range(3000)}
    told = for_model(Execution(logs="y" * 50000), [f"file-{i}" for i in range(20)], produced)
    assert len(told) < 8000, len(told)


# -- 8. no CPU between executions ------------------------------------------------------------

def test_background_thread_does_not_burn_cpu_after_the_run(pool):
    """8: a daemon thread spinning after the cell ended kept a core busy between runs."""
    run(pool, "spin", "import threading\ndef spin():\n    while True:\n        pass\n"
                      "threading.Thread(target=spin, daemon=True).start()\nprint('started')")
    pid = _kernel_pid(pool, "spin")
    t0 = procs.cpu_seconds(pid)
    time.sleep(1.0)  # a measuring window, not synchronisation
    used = procs.cpu_seconds(pid) - t0
    assert used < 0.1, f"{used:.2f} s of CPU in 1 s between executions"
    ex = run(pool, "spin", "print('next', threading.active_count() >= 2)")
    assert ex.logs == "next True\n"
    pool.drop("spin")


SPIN = """
import os, time
end = time.monotonic() + 1.5
kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        while time.monotonic() < end:
            pass
        os._exit(0)
    kids.append(pid)
for p in kids:
    os.waitpid(p, 0)
t = os.times()
print(round(t.children_user + t.children_system, 2))
"""


def test_cpu_quota_is_per_kernel(tmp_path):
    """2 and 8: a kernel's processes together get at most its cores. Three children spin for
    1.5 s under a 0.3-core quota: at most ~0.45 s of CPU, and the cgroup throttled them (this
    host may be too busy to give them more than a core anyway, so throttling is the proof)."""
    _needs_bwrap()
    p = make_pool(tmp_path / "ci", limits(pool_size=0, cpus=0.3, exec_timeout_s=30.0))
    try:
        assert p.available() is None
        if not getattr(p, "accounting", "cgroup").startswith("cgroup"):
            pytest.skip("a CPU quota needs a cgroup")
        used = float(run(p, "cpu", SPIN).logs.split()[-1])
        assert used < 1.5 * 0.3 * 1.5, f"{used} s of CPU in 1.5 s"
        kernel = p._threads["cpu"].kernel
        stats = [d / "cpu.stat" for d in getattr(kernel, "cgroup", None).dirs
                 if (d / "cpu.stat").exists()]
        assert stats, "the kernel's cgroup has no cpu controller"
        stat = dict(line.split() for line in stats[0].read_text().splitlines())
        assert int(stat.get("nr_throttled", 0)) > 0, stat
    finally:
        p.shutdown()


# -- 9. the kernel's runtime dir -------------------------------------------------------------

def test_runtime_dir_is_not_writable_from_the_jail(pool):
    """9: the jail's connection file and sockets lived in a host dir it could write to."""
    code = textwrap.dedent("""
        import json, os
        from ipykernel.connect import get_connection_file
        cf = get_connection_file()
        out = {'cf': cf}
        try:
            with open(os.path.join(os.path.dirname(cf), 'planted.txt'), 'w') as f:
                f.write('x')
            out['planted'] = True
        except OSError as e:
            out['planted'] = type(e).__name__
        print(json.dumps(out))
    """)
    out = run_json(pool, "runtime", code)
    planted = Path(out["cf"]).parent / "planted.txt"
    assert not planted.exists(), f"the jail wrote {planted} on the host"
    for k in list(pool._live):
        assert not (k.runtime / "planted.txt").exists()


CRASHER = """
import os, signal, sys
from pathlib import Path
from airlock.tools.code_interpreter import KernelPool, Limits
pool = KernelPool(Path(sys.argv[1]), Limits(pool_size=1))
assert pool.available() is None
pool.execute('t', 'print(1)')
groups = getattr(pool, '_cgroups', None)
print(' '.join(str(g) for g in (groups.groups if groups else [])), flush=True)
print(pool._runtime_base, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_stale_dirs_of_a_killed_server_are_cleaned_on_start(tmp_path):
    """9: runtime dirs (with connection keys) and sandbox/slots survived kill -9 and restarts."""
    _needs_bwrap()
    root = tmp_path / "ci"
    r = subprocess.run([sys.executable, "-c", CRASHER, str(root)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    lines = r.stdout.splitlines()
    runtime, cgroups = Path(lines[-1]), [Path(g) for g in lines[-2].split()]
    stale_cgroups = [k for g in cgroups for k in g.iterdir() if k.is_dir()]
    assert stale_cgroups or not cgroups
    left = list(runtime.iterdir())  # what the crash left behind: kernels' dirs, with keys...
    assert any((k / "connection.json").exists() for k in left), left
    (root / "slots" / "k-stale").mkdir(parents=True, exist_ok=True)
    (root / "slots" / "k-stale" / "planted").write_text("x")
    p = make_pool(root, limits(pool_size=0))
    try:
        assert p.available() is None
        assert not any(k.exists() for k in left)  # ...is gone once a pool starts
        assert not (root / "slots" / "k-stale").exists()
        assert not any(k.exists() for k in stale_cgroups), stale_cgroups
        assert run(p, "t", "print(2)").logs == "2\n"
    finally:
        p.shutdown()


# -- 11. a disk quota for /mnt/data ----------------------------------------------------------

def _usage(top: Path) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for n in filenames + dirnames:
            total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
    return total


def test_mnt_data_has_a_disk_quota(pool):
    """11: nothing bounded what a thread's /mnt/data held on the host's disk."""
    ex = run(pool, "quota", "for i in range(8):\n"
                            "    with open(f'big{i}.bin', 'wb') as f:\n"
                            "        f.write(b'0' * (16 * 1024**2))")
    assert "quota" in ex.logs, ex.logs
    assert _usage(pool.workdir("quota")) <= 64 * MB + 1 * MB
    assert len(ex.files) <= 4
    # under the quota again: the thread can still write
    ex = run(pool, "quota", "import os\nfor n in os.listdir('.'):\n    os.unlink(n)\n"
                            "open('small.txt', 'w').write('ok')")
    assert not ex.error and ex.files == ["small.txt"], ex.logs
    pool.drop("quota")


# -- 14. reporting -----------------------------------------------------------------------------

def test_bwrap_exit_255_is_not_a_signal():
    """14: a bwrap failure (exit 255) was reported as "signal 127"."""
    from airlock.tools.code_interpreter.kernel import _exit_reason

    assert "signal" not in _exit_reason(255) and "255" in _exit_reason(255)
    assert _exit_reason(-9).startswith("SIGKILL") and _exit_reason(137).startswith("SIGKILL")


def test_figure_left_open_under_agg_is_captured(pool):
    """14: `matplotlib.use('Agg')` switched the inline backend off and lost open figures."""
    ex = run(pool, "agg", "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                          "plt.plot([1, 2, 3])\nplt.show()\nNone")
    assert len(ex.images) == 1 and ex.images[0].startswith(b"\x89PNG"), ex.logs
    ex = run(pool, "agg", "fig, ax = plt.subplots()\nax.bar(['a'], [1])\nNone")
    assert len(ex.images) == 1
    assert run(pool, "agg", "print(len(plt.get_fignums()))").logs == "0\n"
    pool.drop("agg")


# -- through the API -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(start_server):
    _needs_bwrap()
    srv = start_server("hardening-api", "--model", "scripted",
                       env={"AIRLOCK_CODE_POOL_SIZE": "1", "AIRLOCK_CODE_TIMEOUT_S": "30"})
    client = srv.client()
    clear_script(srv)
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "code_interpreter"}])
    yield srv, client, assistant
    client.close()


def _code(source: str) -> dict:
    return {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": source}}]}


def _run_code(api, source: str, answer: str = "Done.", thread=None, **thread_kw):
    srv, client, assistant = api
    thread = thread or client.beta.threads.create(
        messages=[{"role": "user", "content": "run it", **thread_kw}])
    script(srv, _code(source), {"text": answer}, thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   poll_interval_ms=50)
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    calls = [c for s in steps if s.type == "tool_calls" for c in s.step_details.tool_calls]
    return run, (calls[0] if calls else None), thread


def _logs(call) -> str:
    return "".join(o.logs for o in call.code_interpreter.outputs if o.type == "logs")


def _output_files(client) -> int:
    return len(client.files.list(purpose="assistants_output", limit=10000).data)


def test_file_flood_in_a_run_is_capped_and_the_run_completes(api):
    """6: 3,000 files in one cell made 3,000 Files and failed the run (invalid_prompt)."""
    srv, client, _ = api
    before = _output_files(client)
    run, call, _ = _run_code(api, "import os\nos.makedirs('flood', exist_ok=True)\n"
                                  "for i in range(3000):\n"
                                  "    open(f'flood/{i:05}.txt', 'w').write(str(i))")
    assert run.status == "completed", run.last_error
    made = _output_files(client) - before
    assert 0 < made <= 20, made
    assert "more files" in _logs(call)
    srv.wait_for_log("more files")


@pytest.mark.parametrize("name", ["..", "."])
def test_unsafe_input_file_names_get_a_safe_name(api, name):
    """7: a file named `..` or `.` failed every run that used it (a NUL is refused at upload,
    tests/test_hardening_api.py; its sandbox name is checked below all the same)."""
    srv, client, _ = api
    boundary = "airlockboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/csv\r\n\r\nn\n1\n\r\n--{boundary}--\r\n").encode()
    r = httpx.post(f"{srv.base_url}/files", content=body, timeout=30,
                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                            "Authorization": "Bearer x"})
    assert r.status_code == 200, r.text
    file_id = r.json()["id"]
    run, call, _ = _run_code(api, "import os\nprint(sorted(os.listdir('/mnt/data')))",
                             attachments=[{"file_id": file_id,
                                           "tools": [{"type": "code_interpreter"}]}])
    assert run.status == "completed", run.last_error
    listed = _logs(call)
    assert file_id in listed, listed


def test_sandbox_names_of_input_files():
    """7: the name in /mnt/data is the file's own when it is a plain name, else its id."""
    from airlock.engine.core.builtins import sandbox_name

    assert sandbox_name("file-a", "report.csv") == "report.csv"
    assert sandbox_name("file-a", "dir/sub\\report.csv") == "report.csv"
    for bad in ("..", ".", "", "a\x00b", "x" * 300, "line\nbreak.txt"):
        got = sandbox_name("file-a", bad)
        assert got.startswith("file-a") and "/" not in got and "\x00" not in got, (bad, got)
    assert sandbox_name("file-a", "a\x00b.csv") == "file-a.csv"


def _hwm_reset(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def test_big_output_file_is_streamed_not_read_into_memory(api):
    """11: reading a 256 MiB output file back into the server spiked its memory."""
    srv, client, _ = api
    if os.geteuid() != 0 and os.stat(f"/proc/{srv.proc.pid}").st_uid != os.geteuid():
        pytest.skip("cannot reset the server's peak RSS")
    _, _, thread = _run_code(api, "print('warm')")
    _hwm_reset(srv.proc.pid)
    base = _status_kb(srv.proc.pid, "VmRSS")
    run, call, _ = _run_code(api, "with open('/mnt/data/big.bin', 'wb') as f:\n"
                                  "    for _ in range(200):\n"
                                  "        f.write(b'7' * 1024**2)", thread=thread)
    assert run.status == "completed", run.last_error
    peak = _status_kb(srv.proc.pid, "VmHWM")
    assert (peak - base) * 1024 < 100 * MB, f"server peak rose by {(peak - base) // 1024} MiB"
    out = [f for f in client.files.list(purpose="assistants_output").data if f.filename == "big.bin"]
    assert out and out[0].bytes == 200 * MB
