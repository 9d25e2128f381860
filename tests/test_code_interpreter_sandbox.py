"""The code_interpreter sandbox, library level: real bubblewrap, real ipykernels.

One pool serves most tests (kernels are slow to start); a second small pool with a hand-driven
clock covers idle expiry and LRU eviction. Marked slow: the SDK-compatibility pass skips it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from airlock.tools.code_interpreter import Execution, KernelPool, Limits, SandboxUnavailable, procs
from airlock.tools.code_interpreter import jail as jail_mod

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

LIMITS = Limits(memory_bytes=1024**3, file_size_bytes=8 * 1024**2, processes=64,
                exec_timeout_s=30.0, interrupt_grace_s=2.0, pool_size=1)


def _needs_bwrap() -> None:
    if not jail_mod.BWRAP:
        pytest.skip("bubblewrap is not installed")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("airlock-data")
    (d / "secret.txt").write_text("top secret: data dir")
    return d


@pytest.fixture(scope="module")
def bound_secret():
    """A secret dir inside a dir the jail binds (sys.prefix): only `hide` keeps it out."""
    d = Path(sys.prefix) / f".airlock-test-hide-{uuid.uuid4().hex[:8]}"
    try:
        d.mkdir()
    except OSError:
        yield None
        return
    (d / "secret.txt").write_text("top secret: under sys.prefix")
    yield d
    (d / "secret.txt").unlink()
    d.rmdir()


@pytest.fixture(scope="module")
def pool(data_dir, bound_secret):
    _needs_bwrap()
    hide = [data_dir] + ([bound_secret] if bound_secret else [])
    p = KernelPool(data_dir / "code_interpreter", LIMITS, hide=hide)
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
    return json.loads(ex.logs.strip().splitlines()[-1])


# -- basics ---------------------------------------------------------------------------------

def test_print_state_and_results(pool):
    ex = run(pool, "main", "print(sum(range(10)))")
    assert ex.logs == "45\n" and not ex.error and not ex.timed_out and not ex.state_reset
    assert ex.duration_s > 0
    run(pool, "main", "x = 41")
    assert run(pool, "main", "print(x + 1)").logs == "42\n"
    assert run(pool, "main", "x + 2").logs == "43\n"  # an expression's value, as text/plain
    assert run(pool, "main", "print(np.arange(3).sum(), pd.__name__)").logs == "3 pandas\n"
    assert run(pool, "main", "import os; print(os.getcwd())").logs == "/mnt/data\n"


def test_error_traceback_without_colour(pool):
    ex = run(pool, "main", "def f():\n    raise ValueError('boom')\nf()")
    assert ex.error and "ValueError: boom" in ex.logs and "\x1b[" not in ex.logs
    assert run(pool, "main", "print('still here')").logs == "still here\n"


def test_matplotlib_gives_png(pool):
    ex = run(pool, "main", "plt.plot([1, 3, 2])\nplt.show()")
    assert not ex.error, ex.logs
    assert len(ex.images) == 1 and ex.images[0].startswith(PNG_MAGIC)
    # a figure left open at the end of the cell is shown too
    ex = run(pool, "main", "fig, ax = plt.subplots()\nax.bar(['a', 'b'], [1, 2])\nNone")
    assert len(ex.images) == 1 and ex.images[0].startswith(PNG_MAGIC)
    assert run(pool, "main", "print(1)").images == []


def test_output_is_capped(pool):
    ex = run(pool, "main", "print('a' * 30000 + 'b' * 30000 + 'END')")
    assert len(ex.logs) < LIMITS.output_chars + 200
    assert "truncated" in ex.logs and ex.logs.startswith("aaa") and ex.logs.rstrip().endswith("END")


def test_files_in_mnt_data(pool):
    host = pool.workdir("main")
    (host / "input.csv").write_text("a,b\n1,2\n")  # as the engine does, as root
    ex = run(pool, "main", "import pandas as pd\n"
                           "df = pd.read_csv('/mnt/data/input.csv')\n"
                           "import os; os.makedirs('out', exist_ok=True)\n"
                           "df.assign(c=df.a + df.b).to_csv('out/result.csv', index=False)\n"
                           "open('input.csv', 'a').write('3,4\\n')")
    assert not ex.error, ex.logs
    assert ex.files == ["input.csv", "out/result.csv"]
    assert (host / "out" / "result.csv").read_text() == "a,b,c\n1,2,3\n"
    assert (host / "input.csv").read_text().endswith("3,4\n")
    assert run(pool, "main", "print('nothing written')").files == []
    assert pool.read_file("main", "out/result.csv") == b"a,b,c\n1,2,3\n"


def test_file_size_limit(pool):
    ex = run(pool, "main", "open('big.bin', 'wb').write(b'0' * (9 * 1024**2))")
    assert ex.error and "File too large" in ex.logs


def test_host_side_file_helpers_do_not_follow_planted_symlinks(pool):
    target = Path(pool.workdir("main")).parent / "outside.txt"  # a host file the jail cannot see
    target.write_text("host")
    ex = run(pool, "main", f"import os\n"
                           f"os.symlink({str(target)!r}, 'planted')\n"
                           f"os.symlink('/etc/hostname', 'planted2')")
    assert not ex.error, ex.logs
    assert ex.files == []  # links are not files to hand back
    pool.write_file("main", "planted", b"engine data")
    assert target.read_text() == "host"
    assert (pool.workdir("main") / "planted").read_bytes() == b"engine data"
    with pytest.raises(OSError):
        pool.read_file("main", "planted2")
    target.unlink()


# -- isolation ------------------------------------------------------------------------------

def test_no_network(pool):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=2):  # reachable from the host
        pass
    listener.accept()[0].close()
    code = f"""
import json, socket
out = {{}}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except OSError as e:
        out[name] = type(e).__name__
attempt("host_port", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2).close())
attempt("dns", lambda: socket.getaddrinfo("example.com", 443))
attempt("outbound", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2).close())
out["interfaces"] = [n for _, n in socket.if_nameindex()]
print(json.dumps(out))
"""
    out = run_json(pool, "probe", code)
    assert out["host_port"] != "ok" and out["dns"] != "ok" and out["outbound"] != "ok", out
    assert out["interfaces"] == ["lo"]
    with pytest.raises(BlockingIOError):  # nobody from the jail knocked
        listener.accept()
    listener.close()


def test_secrets_are_invisible(pool, data_dir, bound_secret):
    home = os.path.expanduser("~")
    paths = [str(data_dir / "secret.txt"), str(data_dir), str(pool.workdir("someone-else")),
             "/etc/shadow", "/var", "/srv", home]
    if bound_secret:
        paths += [str(bound_secret / "secret.txt")]
    code = f"""
import json, os
out = {{}}
for p in {paths!r}:
    try:
        out[p] = open(p).read() if os.path.isfile(p) else sorted(os.listdir(p))
    except OSError as e:
        out[p] = type(e).__name__
print(json.dumps(out))
"""
    out = run_json(pool, "probe", code)
    # of the home dir, only the way to an interpreter dir that lives there (pyenv) is visible
    on_the_way = {Path(d).relative_to(home).parts[0] for d in (sys.prefix, sys.base_prefix)
                  if d.startswith(home + "/")}
    if isinstance(out[home], list):
        assert set(out.pop(home)) <= on_the_way
    for p, got in out.items():
        assert got in ("FileNotFoundError", "PermissionError", []), (p, got)
    if bound_secret:  # the bind around it is still there: numpy etc. import from sys.prefix
        assert run(pool, "probe", "import numpy; print(numpy.__file__.startswith(__import__('sys').prefix))").logs == "True\n"


def test_only_mnt_data_and_private_tmp_are_writable(pool):
    marker = f"airlock-jail-{uuid.uuid4().hex}"
    targets = ["/", "/usr", "/usr/lib", "/etc", "/root", "/mnt", "/var", "/home",
               sys.prefix, sys.base_prefix, os.path.dirname(sys.prefix)]
    code = f"""
import json, os
out = {{}}
for d in {targets!r}:
    try:
        with open(os.path.join(d, {marker!r}), "w") as f:
            f.write("x")
        out[d] = "written"
    except OSError as e:
        out[d] = type(e).__name__
with open("/tmp/{marker}", "w") as f:
    f.write("jail tmp")
with open("/mnt/data/{marker}", "w") as f:
    f.write("kept")
print(json.dumps(out))
"""
    out = run_json(pool, "probe", code)
    assert all(v != "written" for v in out.values()), out
    for d in targets:
        assert not os.path.exists(os.path.join(d, marker))
    assert not Path("/tmp", marker).exists()  # the jail's /tmp is its own
    assert (pool.workdir("probe") / marker).read_text() == "kept"


def test_threads_do_not_see_each_other(pool):
    run(pool, "main", "open('/mnt/data/a-only.txt', 'w').write('a')")
    out = run_json(pool, "other",
                   f"import json, os; print(json.dumps([sorted(os.listdir('/mnt/data')), "
                   f"os.path.exists({str(pool.workdir('main'))!r})]))")
    assert out == [[], False]
    assert (pool.workdir("main") / "a-only.txt").exists()
    assert not (pool.workdir("other") / "a-only.txt").exists()


# -- abuse ----------------------------------------------------------------------------------

def test_memory_bomb(pool):
    run(pool, "abuse", "kept = 'yes'")
    ex = run(pool, "abuse", "x = bytearray(8 * 1024**3)")
    assert ex.error and "MemoryError" in ex.logs
    ex = run(pool, "abuse", "hog = []\nwhile True:\n    hog.append(bytearray(64 * 1024**2))")
    assert ex.error
    after = run(pool, "abuse", "hog = None\nprint(kept)")
    if after.state_reset:  # the kernel died rather than raising: reported, and it works again
        assert "died" in ex.logs
        assert run(pool, "abuse", "print('back')").logs == "back\n"
    else:
        assert "MemoryError" in ex.logs and after.logs == "yes\n"


def test_infinite_loop_times_out_and_kernel_recovers(pool):
    run(pool, "abuse", "survivor = 7")
    ex = run(pool, "abuse", "while True:\n    pass", timeout_s=2)
    # Interrupted at the timeout (not restarted: the state survives below).
    assert ex.timed_out and "timed out" in ex.logs
    after = run(pool, "abuse", "print(survivor)")
    assert after.logs == "7\n" and not after.state_reset and not after.timed_out


def test_uninterruptible_cell_restarts_the_kernel(pool):
    run(pool, "stubborn", "lost = 1\nopen('kept.txt', 'w').write('k')")
    ex = run(pool, "stubborn", "import signal, time\n"
                               "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                               "while True:\n    pass", timeout_s=1)
    assert ex.timed_out and "restarted" in ex.logs
    after = run(pool, "stubborn", "print(open('kept.txt').read())\nprint(lost)")
    assert after.state_reset and after.logs.startswith("k\n") and "NameError" in after.logs


def test_kernel_death_is_reported_and_the_next_execution_starts_fresh(pool):
    run(pool, "dies", "gone_soon = 1")
    ex = run(pool, "dies", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert ex.error and "kernel died" in ex.logs and "SIGKILL" in ex.logs
    after = run(pool, "dies", "print('fresh')\ngone_soon")
    assert after.state_reset and after.logs.startswith("fresh\n") and "NameError" in after.logs


def _count_uid(uid: int) -> int:
    n = 0
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            try:
                if e.stat().st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def test_fork_bomb_is_contained(pool):
    uid = int(run(pool, "abuse", "import os\nprint(os.getuid())").logs)
    assert uid != 0
    peak, done = [0], threading.Event()

    def watch():  # samples the host's process table for the whole run of the bomb
        while not done.is_set():
            peak[0] = max(peak[0], _count_uid(uid))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ex = run(pool, "abuse", "import os\nwhile True:\n    os.fork()", timeout_s=20)
    finally:
        done.set()
        watcher.join()
    # The process limit ended the bomb (an error in the cell), not the 20 s timeout.
    assert ex.error and not ex.timed_out and "BlockingIOError" in ex.logs, ex.logs[-2000:]
    assert peak[0] <= LIMITS.processes, peak[0]
    subprocess.run(["true"], check=True, timeout=60)  # the host still forks
    assert _count_uid(uid) <= 1  # only the kernel is left
    after = run(pool, "abuse", "import subprocess\nprint(subprocess.run(['echo', 'forks again'], "
                               "capture_output=True, text=True).stdout, end='')")
    assert after.logs == "forks again\n", after.logs


# -- lifecycle ------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clocked(tmp_path_factory):
    _needs_bwrap()
    clock = Clock()
    p = KernelPool(tmp_path_factory.mktemp("clocked"),
                   Limits(pool_size=1, max_kernels=1, idle_timeout_s=100), clock=clock)
    p.start()
    yield p, clock
    p.shutdown()


def test_idle_kernel_expires(clocked):
    pool, clock = clocked
    run(pool, "idle", "v = 1\nopen('note.txt', 'w').write('persist')")
    clock.now += 50
    pool.expire_idle()
    assert run(pool, "idle", "print(v)").logs == "1\n"  # not idle long enough
    clock.now += 101
    pool.expire_idle()
    ex = run(pool, "idle", "print(open('note.txt').read())\nprint(v)")
    assert ex.state_reset and ex.logs.startswith("persist\n") and "NameError" in ex.logs
    assert not run(pool, "idle", "print(1)").state_reset


def test_lru_eviction(clocked):
    pool, clock = clocked
    run(pool, "A", "a = 'A'\nopen('a.txt', 'w').write('a')")
    clock.now += 1
    ex = run(pool, "B", "b = 'B'")
    assert not ex.state_reset  # B never had a kernel
    assert pool.live_kernels() <= 1 + 1  # one bound (max_kernels) plus the warm one
    clock.now += 1
    ex = run(pool, "A", "print(open('a.txt').read())\nprint(a)")
    assert ex.state_reset and ex.logs.startswith("a\n") and "NameError" in ex.logs
    assert run(pool, "B", "print(b)").state_reset


def test_kernel_outlives_the_thread_that_started_it_and_shutdown_leaves_no_processes(tmp_path):
    _needs_bwrap()
    pool = KernelPool(tmp_path / "ci", Limits(pool_size=0))
    # bwrap --die-with-parent fires when the *thread* that started it exits: the pool must not
    # start kernels from the caller's (here short-lived) thread
    worker = threading.Thread(target=lambda: run(pool, "t", "v = 4"))
    worker.start()
    worker.join()
    ex = run(pool, "t", "print(v)")
    assert ex.logs == "4\n" and not ex.state_reset
    base = str(pool._runtime_base)
    # the kernels' processes: bwrap outside and its init, the kernel (their command lines show
    # no host path any more: bwrap reads its options from a pipe, the connection file is the
    # jail's), found from the pool's kernels
    pids = [p for k in list(pool._live) for p in k.process_tree()]

    def ours():
        return [p for p in pids if procs.alive(p)]

    assert len(ours()) >= 2  # bwrap (outside and init) and the kernel
    pool.shutdown()
    assert ours() == [] and pool.live_kernels() == 0
    assert not os.path.exists(base)


def test_drop_forgets_a_thread(pool):
    run(pool, "doomed", "open('f.txt', 'w').write('x')")
    d = pool.workdir("doomed")
    assert (d / "f.txt").exists()
    pool.drop("doomed")
    assert not d.exists()


# -- no sandbox ------------------------------------------------------------------------------

def test_missing_bwrap_is_reported(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(jail_mod, "BWRAP", str(tmp_path / "no-such-bwrap"))
    pool = KernelPool(tmp_path / "ci")
    why = pool.available()
    assert why and "bubblewrap" in why and "apt-get install bubblewrap" in why
    with pytest.raises(SandboxUnavailable) as err:
        pool.execute("t", "print(1)")
    assert "apt-get install bubblewrap" in str(err.value)
    pool.shutdown()

    unsafe = KernelPool(tmp_path / "ci2", Limits(pool_size=0), allow_unsandboxed=True)
    try:
        with caplog.at_level(logging.WARNING, logger="airlock.code_interpreter"):
            assert unsafe.available() is not None  # the sandbox still does not work...
        assert "WITHOUT a sandbox" in caplog.text
        assert not unsafe.sandboxed
        ex = unsafe.execute("t", "print(sum(range(10)))\n_ = open('f.txt', 'w').write('x')")  # ...but it runs
        assert ex.logs == "45\n" and ex.files == ["f.txt"]
    finally:
        unsafe.shutdown()
