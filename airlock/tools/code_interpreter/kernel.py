"""One jailed ipykernel: start, execute, interrupt, stop, and what it costs (RSS).

Started through jupyter_client's KernelManager with a kernel spec built in code: argv is the
bubblewrap command line around `python -c <boot.py>`, `interrupt_mode: "message"` (an
interrupt_request on the control channel: signals from outside cannot reach into the jail's
pid namespace reliably), the ipc transport (sockets in the kernel's runtime dir, which the jail
binds at the same path), and `independent=True` (no JPY_PARENT_PID: in its pid namespace the
kernel's parent is bwrap's init, and ipykernel's parent poller would kill it; --die-with-parent
does that job). Not thread-safe: the pool lets one thread at a time use a kernel.
"""

from __future__ import annotations

import base64
import io
import os
import queue
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from queue import Empty
from typing import Any, TypeVar

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from jupyter_client.provisioning import LocalProvisioner

from . import procs
from .jail import Jail
from .output import MAX_IMAGES, CappedText, Execution

_REAP = ("import os as _airlock_os\n"
         "try:\n"
         "    while _airlock_os.waitpid(-1, _airlock_os.WNOHANG)[0]:\n"
         "        pass\n"
         "except ChildProcessError:\n"
         "    pass\n"
         "del _airlock_os\n")


REAP_WAIT_S = 10.0

_T = TypeVar("_T")


class KernelStartError(RuntimeError):
    pass


class _Spawner:
    """Starts kernel processes from one thread that lives as long as the server.

    bwrap's --die-with-parent is PR_SET_PDEATHSIG, and Linux sends that signal when the *thread*
    that forked bwrap exits, not the process: a kernel started from a short-lived worker thread
    (a ThreadPoolExecutor's, asyncio.to_thread's) would be killed when that thread goes.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            fn, fut = self._jobs.get()
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    fut.set_exception(e)

    def run(self, fn: Callable[[], _T]) -> _T:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="airlock-ci-spawner",
                                                daemon=True)
                self._thread.start()
        fut: Future[_T] = Future()
        self._jobs.put((fn, fut))
        return fut.result()


_spawner = _Spawner()


class _Manager(KernelManager):
    """A KernelManager whose kernel spec is made in code rather than read from a kernel.json."""

    def __init__(self, spec: KernelSpec, **kw: Any) -> None:
        super().__init__(**kw)
        self._airlock_spec = spec

    @property
    def kernel_spec(self) -> KernelSpec:
        return self._airlock_spec


def _exit_reason(rc: int | None) -> str:
    if rc is None:
        return "unknown exit status"
    sig = -rc if rc < 0 else rc - 128 if rc > 128 else 0
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        why = {"SIGKILL": "killed", "SIGXCPU": "CPU time limit", "SIGSEGV": "crashed",
               "SIGABRT": "aborted, often out of memory"}.get(name, "")
        return f"{name}{', ' + why if why else ''}"
    return f"exit status {rc}"


class Kernel:
    def __init__(self, jail: Jail, runtime: Path, workdir: Path, uid: int | None,
                 context: zmq.Context, *, warm: bool = True):
        self.jail, self.runtime, self.workdir, self.uid = jail, runtime, workdir, uid
        self.context = context
        self.warm = warm
        self.id = runtime.name
        self.km: _Manager | None = None
        self.kc: BlockingKernelClient | None = None
        self.pid: int | None = None  # the kernel process, host pid namespace
        self.init_pid: int | None = None  # bwrap's init in the jail (pid 1 there)
        self._log: io.BufferedWriter | None = None
        self.started_at = 0.0
        self.gone = True  # after finish_stop: every process of the kernel has been reaped

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float) -> None:
        """Start the kernel and wait until it answers (warm-up imports included)."""
        self.started_at = time.monotonic()
        args_fd = None
        if self.jail.sandboxed:
            options = self.jail.bwrap_options(self.workdir, self.runtime)
            data = b"".join(os.fsencode(a) + b"\0" for a in options)
            if len(data) < 60000:  # fits a pipe's buffer: written before bwrap starts reading
                args_fd, w = os.pipe()
                os.write(w, data)
                os.close(w)
        spec = KernelSpec(argv=self.jail.kernel_argv(self.workdir, self.runtime, args_fd),
                          display_name="airlock python", language="python",
                          interrupt_mode="message", env={})
        km = _Manager(spec, context=self.context, transport="ipc",
                      ip=str(self.runtime / "kernel-ipc"),
                      connection_file=str(self.runtime / "connection.json"))
        self.km = km
        km.write_connection_file()
        if self.uid is not None:
            os.chown(km.connection_file, self.uid, self.uid)
        self._log = open(self.runtime / "kernel.log", "ab")
        try:
            env = self.jail.env(self.workdir, self.runtime, self.uid, warm=self.warm)
            _spawner.run(lambda: km.start_kernel(
                env=env, independent=self.jail.sandboxed, cwd=str(self.runtime),
                stdout=self._log, stderr=subprocess.STDOUT,
                pass_fds=() if args_fd is None else (args_fd,)))
        finally:
            if args_fd is not None:
                os.close(args_fd)
        kc = self.kc = km.client(context=self.context)
        kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        try:
            self._wait_ready(self.started_at + timeout_s)
        except KernelStartError as e:
            raise KernelStartError(f"{e}; kernel log: {self.log_tail()}") from None
        self.pid = self._find_kernel_pid()
        self.init_pid = procs.parent(self.pid) if self.jail.sandboxed and self.pid else None

    def _client(self) -> BlockingKernelClient:
        if self.kc is None:
            raise RuntimeError("the kernel has not been started")
        return self.kc

    def _provisioner(self) -> LocalProvisioner | None:
        """The started kernel's provisioner. The kernel spec names none, so it is jupyter_client's
        default, a LocalProvisioner: `process` and `pid` are its, not the base class's."""
        prov = self.km.provisioner if self.km is not None else None
        if prov is None:
            return None
        if not isinstance(prov, LocalProvisioner):
            raise TypeError(f"unexpected kernel provisioner: {type(prov).__name__}")
        return prov

    def _wait_ready(self, deadline: float) -> None:
        kc = self._client()
        while True:
            kc.kernel_info()
            while True:
                try:
                    msg = kc.get_shell_msg(timeout=0.25)
                except Empty:
                    if not self.alive():
                        why = _exit_reason(self.returncode())
                        raise KernelStartError(f"the kernel exited ({why})") from None
                    if time.monotonic() > deadline:
                        raise KernelStartError("the kernel did not answer in time") from None
                    continue
                if msg["msg_type"] == "kernel_info_reply":
                    break
            # the reply came on shell; iopub (a SUB socket) may still be joining: the request's
            # busy/idle status arriving there says it is connected
            try:
                kc.get_iopub_msg(timeout=1.0)
            except Empty:
                continue
            self._drain()
            return

    def _find_kernel_pid(self) -> int | None:
        prov = self._provisioner()
        bwrap = prov.pid if prov is not None else None
        if not self.jail.sandboxed or bwrap is None:
            return bwrap
        # bwrap -> bwrap (init, pid 1 of the jail) -> kernel (pid 2 of the jail)
        for pid in procs.descendants(bwrap):
            if procs.ns_pids(pid)[-1:] == [2]:
                return pid
        return None

    def returncode(self) -> int | None:
        prov = self._provisioner()
        proc = prov.process if prov is not None else None
        return proc.poll() if proc else None

    def alive(self) -> bool:
        prov = self._provisioner()
        proc = prov.process if prov is not None else None
        return proc is not None and proc.poll() is None

    def process_tree(self) -> list[int]:
        """Host pids of bwrap, its init and the kernel with its children."""
        prov = self._provisioner()
        top = prov.pid if prov is not None else None
        if not top:
            return []
        return [top] + procs.descendants(top)

    def rss_bytes(self) -> int:
        return procs.rss_bytes(self.process_tree())

    def request_stop(self) -> None:
        """Ask the kernel to shut down (returns at once; finish_stop waits)."""
        if self.km is not None and self.alive():
            try:
                self.km.request_shutdown()
            except Exception:  # noqa: BLE001 - a dead control socket: finish_stop kills
                pass

    def finish_stop(self, deadline: float) -> None:
        """Wait for the kernel to exit until deadline, then kill it; free everything.

        Inside out: the jail's processes first (SIGKILL to its init ends the whole pid
        namespace), so the outer bwrap, still alive, reaps its init and exits on its own; only
        then is it reaped here. Killed the other way round, init is orphaned to the host's pid 1
        and stays a zombie until that gets round to reaping it.
        """
        if self.km is None:
            return
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        tree = self.process_tree()
        prov = self._provisioner()
        proc = prov.process if prov is not None else None
        procs.kill(tree[1:] if self.jail.sandboxed else tree)
        if prov is not None and proc is not None:
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                procs.kill(tree[:1])
                try:
                    proc.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    pass
            prov.process = None
        # gone = reaped, not just dead: until then they count against the uid's RLIMIT_NPROC
        end = time.monotonic() + 1.0
        while time.monotonic() < end and any(os.path.exists(f"/proc/{p}") for p in tree):
            time.sleep(0.005)
        self.gone = not any(os.path.exists(f"/proc/{p}") for p in tree)
        try:
            if self.kc is not None:
                self.kc.stop_channels()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.km.cleanup_resources()
        except Exception:  # noqa: BLE001
            pass
        if self._log:
            self._log.close()
            self._log = None
        self.km = None

    def stop(self, wait_s: float = 1.0) -> None:
        self.request_stop()
        self.finish_stop(time.monotonic() + wait_s)

    def log_tail(self, n: int = 2000) -> str:
        try:  # the runtime dir is the jail's to write in: do not follow a planted symlink
            fd = os.open(self.runtime / "kernel.log", os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return ""
        with os.fdopen(fd, "rb") as f:
            return f.read()[-n:].decode(errors="replace").strip()

    # -- execution ---------------------------------------------------------------------------

    def arm_cpu(self, budget_s: int) -> None:
        """RLIMIT_CPU of the kernel := CPU used so far + budget (a per-execution budget)."""
        if self.pid is None:
            return
        used = procs.cpu_seconds(self.pid)
        if used is None:
            return
        soft = int(used) + 1 + budget_s
        hard = soft + 5 if self.jail.privileged else resource.RLIM_INFINITY
        try:
            resource.prlimit(self.pid, resource.RLIMIT_CPU, (soft, hard))
        except (OSError, ValueError):
            pass

    def _drain(self) -> None:
        kc = self._client()
        for get in (kc.get_iopub_msg, kc.get_shell_msg):
            while True:
                try:
                    get(timeout=0)
                except Empty:
                    break

    def run(self, code: str, timeout_s: float, grace_s: float, output_chars: int,
            process_limit: int) -> tuple[Execution, bool]:
        """Execute code; returns (execution, lost). lost: the kernel died or must be restarted.

        While the cell runs, the jail's task count is checked twice a second: at the process
        limit (a fork bomb, or a pool of workers that cannot grow) the cell's processes are
        killed, which lets the kernel finish the cell with the error the last fork raised.
        """
        log = CappedText(output_chars)
        ex = Execution()
        dropped_images = 0
        kc = self._client()
        self._drain()
        t0 = time.monotonic()
        msg_id = kc.execute(code, silent=False, store_history=True, allow_stdin=False,
                            stop_on_error=False)
        deadline, interrupted_at, lost = t0 + timeout_s, None, False
        next_check = t0 + 0.5
        while True:
            now = time.monotonic()
            if now >= next_check and interrupted_at is None:
                next_check = now + 0.5
                if self._at_process_limit(process_limit):
                    n = len(self._kill_strays())
                    log.add(f"\n[The cell reached the limit of {process_limit} processes and "
                            f"threads; its {n} processes were killed.]\n")
            if interrupted_at is None and now >= deadline:
                ex.timed_out, interrupted_at = True, now
                # processes the cell started go first: a fork bomb's forks hold every slot of
                # RLIMIT_NPROC, and the kernel cannot finish its cell until they are gone
                self._kill_strays()
                try:
                    if self.km is not None:
                        self.km.interrupt_kernel()
                except Exception:  # noqa: BLE001 - dead already: seen below
                    pass
            elif interrupted_at is not None and now >= interrupted_at + grace_s:
                lost = True
                log.add(f"\n[Execution timed out after {timeout_s:g} s and did not stop within "
                        f"{grace_s:g} s of an interrupt: the kernel was restarted. Variables and "
                        "imports are lost; files in /mnt/data are kept.]\n")
                break
            until = deadline if interrupted_at is None else interrupted_at + grace_s
            try:
                msg = kc.get_iopub_msg(timeout=max(0.0, min(until - now, 0.5)))
            except Empty:
                if not self.alive():
                    lost = True
                    log.add(f"\n[The kernel died ({_exit_reason(self.returncode())}). It will be "
                            "restarted: variables and imports are lost; files in /mnt/data are kept.]\n")
                    break
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                log.add(content.get("text", ""))
            elif kind in ("display_data", "execute_result"):
                data = content.get("data", {})
                if "image/png" in data:
                    if len(ex.images) < MAX_IMAGES:
                        ex.images.append(base64.b64decode(data["image/png"]))
                    else:
                        dropped_images += 1
                elif "text/plain" in data:
                    log.add(data["text/plain"] + "\n")
            elif kind == "error":
                ex.error = True
                tb = content.get("traceback") or [f"{content.get('ename')}: {content.get('evalue')}"]
                log.add("\n".join(tb) + "\n")
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        if ex.timed_out and not lost:
            log.add(f"\n[Execution timed out after {timeout_s:g} s and was interrupted; "
                    "the kernel's variables are kept.]\n")
        if dropped_images:
            log.add(f"\n[{dropped_images} more images were not kept (limit {MAX_IMAGES}).]\n")
        ex.error = ex.error or lost
        ex.logs = log.text()
        ex.duration_s = time.monotonic() - t0
        if not lost:
            self._drain()
        return ex, lost

    def _strays(self, kids: dict[int, list[int]] | None = None) -> list[int]:
        """Every process of the jail but bwrap's init and the kernel: the kernel's children, and
        orphans (double-forked daemons) that init inherited."""
        if self.pid is None:
            return []
        top = self.init_pid if self.init_pid is not None else self.pid
        return [p for p in procs.descendants(top, kids) if p != self.pid]

    def _at_process_limit(self, limit: int) -> bool:
        if self.pid is None:
            return False  # no strays without a kernel pid
        kids = procs.children_map()
        strays = self._strays(kids)
        return bool(strays) and procs.task_count([self.pid] + strays) >= limit - 2

    def _kill_strays(self) -> list[int]:
        """SIGKILL the strays and wait (briefly) until they are dead (zombies at most)."""
        strays = self._strays()
        if strays:
            procs.kill(strays)
            end = time.monotonic() + 2.0
            while any(procs.alive(p) for p in strays) and time.monotonic() < end:
                time.sleep(0.01)
        return strays

    def reap_strays(self) -> int:
        """Kill every process a cell left behind (a cell's processes do not outlive it).

        This is what un-jams a kernel after a fork bomb: the forks hold RLIMIT_NPROC's slots,
        and so do their zombies until reaped, so this returns once they are gone (or after
        REAP_WAIT_S: on a loaded machine, killing and reaping a bomb's few dozen processes
        has taken longer than 2 s).
        Returns how many there were.
        """
        strays = self._kill_strays()
        if not strays:
            return 0
        if any(procs.parent(p) == self.pid for p in strays):
            # the kernel's own children are its zombies now: it has to wait() for them
            kc = self._client()
            msg_id = kc.execute(_REAP, silent=True, store_history=False, allow_stdin=False)
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                try:
                    msg = kc.get_iopub_msg(timeout=max(0.0, end - time.monotonic()))
                except Empty:
                    break
                if (msg.get("parent_header", {}).get("msg_id") == msg_id
                        and msg["msg_type"] == "status"
                        and msg["content"].get("execution_state") == "idle"):
                    break
            self._drain()
        end = time.monotonic() + REAP_WAIT_S  # init reaps the others
        while any(os.path.exists(f"/proc/{p}") for p in strays) and time.monotonic() < end:
            time.sleep(0.01)
        return len(strays)

    def kill_processes(self) -> None:
        """SIGKILL the kernel's process tree, touching nothing else (safe from any thread)."""
        procs.kill(self.process_tree())
