"""One jailed ipykernel: start, execute, interrupt, pause, stop, and what it costs (RSS).

Started through jupyter_client's KernelManager with a kernel spec built in code: argv is the
bubblewrap command line around `python -c <boot.py>` (inside `sh` joining the kernel's cgroup
first, when there is one), `interrupt_mode: "message"` (an interrupt_request on the control
channel: signals from outside cannot reach into the jail's pid namespace reliably), the ipc
transport and `independent=True` (no JPY_PARENT_PID: in its pid namespace the kernel's parent is
bwrap's init, and ipykernel's parent poller would kill it; --die-with-parent does that job).

The ipc sockets live in the jail's own tmpfs (jail.JAIL_RUNTIME). Once the kernel has bound
them, and before any user code runs, the host opens each through /proc/<kernel>/root with
O_PATH and O_NOFOLLOW and connects zmq to /proc/self/fd/<fd>: always that socket inode, whatever
the code does later in its runtime dir. The host side of a kernel's runtime dir (the
connection file jupyter_client writes, with the key) is private to the server and not in the
jail. The kernel's stdout and stderr go to a pipe whose last few KiB are kept (log_tail).

Between executions the kernel is paused (SIGSTOP; SIGCONT before the next one, or before it is
asked to stop): a thread the code left running uses no CPU while the kernel waits.

Not thread-safe: the pool lets one thread at a time use a kernel.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import resource
import signal
import stat
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
from .cgroups import KernelCgroup
from .jail import JAIL_RUNTIME, Jail
from .output import MAX_IMAGES, CappedText, Execution

_REAP = ("import os as _airlock_os\n"
         "try:\n"
         "    while _airlock_os.waitpid(-1, _airlock_os.WNOHANG)[0]:\n"
         "        pass\n"
         "except ChildProcessError:\n"
         "    pass\n"
         "del _airlock_os\n")


REAP_WAIT_S = 10.0
CHECK_EVERY_S = 0.25  # the watchdog's period while a cell runs
LOG_TAIL_BYTES = 8192
CHANNELS = ("shell", "iopub", "stdin", "control", "hb")

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


class _JailClient(BlockingKernelClient):
    """A kernel client whose channels connect to given URLs (the jail's sockets by fd)."""

    airlock_urls: dict[str, str] = {}

    def _make_url(self, channel: str) -> str:
        return self.airlock_urls.get(channel) or super()._make_url(channel)


class _Manager(KernelManager):
    """A KernelManager whose kernel spec is made in code rather than read from a kernel.json,
    and whose own sockets (control: interrupts, shutdown) and clients use airlock_urls."""

    def __init__(self, spec: KernelSpec, **kw: Any) -> None:
        super().__init__(**kw)
        self._airlock_spec = spec
        self.airlock_urls: dict[str, str] = {}

    @property
    def kernel_spec(self) -> KernelSpec:
        return self._airlock_spec

    def _make_url(self, channel: str) -> str:
        return self.airlock_urls.get(channel) or super()._make_url(channel)

    def airlock_client(self, context: zmq.Context) -> _JailClient:
        kw: dict[str, Any] = dict(self.get_connection_info(session=True))
        kw.update({"connection_file": self.connection_file, "parent": self, "context": context})
        client = _JailClient(**kw)
        client.airlock_urls = dict(self.airlock_urls)
        return client


def _exit_reason(rc: int | None) -> str:
    """Why a process ended, from its Popen returncode: negative is a signal; bwrap (and sh)
    exit 128+N when their child died of signal N."""
    if rc is None:
        return "unknown exit status"
    sig = -rc if rc < 0 else rc - 128 if 128 < rc < 128 + 65 else 0
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        why = {"SIGKILL": "killed", "SIGXCPU": "CPU time limit", "SIGSEGV": "crashed",
               "SIGABRT": "aborted, often out of memory"}.get(name, "")
        return f"{name}{', ' + why if why else ''}"
    if rc == 255:
        return "exit status 255: the sandbox (bwrap) failed"
    if rc == 125:
        return "exit status 125: the kernel could not join its cgroup"
    return f"exit status {rc}"


class _LogTail:
    """Reads a pipe until EOF on a thread of its own, keeping only the last LOG_TAIL_BYTES."""

    def __init__(self, fd: int):
        self.data = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(fd,), name="airlock-ci-log",
                                        daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                with self._lock:
                    self.data += chunk
                    del self.data[:-LOG_TAIL_BYTES]

    def text(self, n: int) -> str:
        with self._lock:
            return bytes(self.data[-n:]).decode(errors="replace").strip()


class Kernel:
    """runtime: the host side of the kernel's runtime dir (private to the server);
    cgroup: the kernel's own, or None (then memory is accounted from /proc while a cell runs)."""

    def __init__(self, jail: Jail, runtime: Path, workdir: Path, uid: int | None,
                 context: zmq.Context, *, warm: bool = True, cgroup: KernelCgroup | None = None):
        self.jail, self.runtime, self.workdir, self.uid = jail, runtime, workdir, uid
        self.context = context
        self.warm = warm
        self.cgroup = cgroup
        self.id = runtime.name
        self.km: _Manager | None = None
        self.kc: BlockingKernelClient | None = None
        self.pid: int | None = None  # the kernel process, host pid namespace
        self.init_pid: int | None = None  # bwrap's init in the jail (pid 1 there)
        self._log: _LogTail | None = None
        self._socket_fds: list[int] = []
        self.paused = False
        self.started_at = 0.0
        self.gone = True  # after finish_stop: every process of the kernel has been reaped

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float) -> None:
        """Start the kernel and wait until it answers (warm-up imports included)."""
        self.started_at = time.monotonic()
        deadline = self.started_at + timeout_s
        launch = self.jail.launch(self.workdir)
        argv = launch.argv + self.jail.tail()
        if self.cgroup is not None:
            argv = self.cgroup.wrap(argv)
        spec = KernelSpec(argv=argv, display_name="airlock python", language="python",
                          interrupt_mode="message", env={})
        km = _Manager(spec, context=self.context, transport="ipc",
                      ip=str(self.runtime / "kernel-ipc"),
                      connection_file=str(self.runtime / "connection.json"))
        self.km = km
        km.write_connection_file()
        connection = None
        if self.jail.sandboxed:
            with open(km.connection_file) as f:
                connection = json.load(f)
            connection["ip"] = JAIL_RUNTIME + "/kernel-ipc"
        log_r, log_w = os.pipe()
        self._log = _LogTail(log_r)
        try:
            env = self.jail.env(self.workdir, self.runtime, self.uid, warm=self.warm,
                                connection=connection)
            _spawner.run(lambda: km.start_kernel(
                env=env, independent=self.jail.sandboxed, cwd=str(self.runtime),
                stdout=log_w, stderr=subprocess.STDOUT, pass_fds=tuple(launch.fds)))
        finally:
            os.close(log_w)
            launch.close()
        try:
            if self.jail.sandboxed:
                self._connect_jail_sockets(deadline)
            kc = self.kc = km.airlock_client(self.context)
            kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
            self._wait_ready(deadline)
        except KernelStartError as e:
            raise KernelStartError(f"{e}; kernel log: {self.log_tail()}") from None
        if self.pid is None:
            self.pid = self._find_kernel_pid()
        self.init_pid = procs.parent(self.pid) if self.jail.sandboxed and self.pid else None

    def _connect_jail_sockets(self, deadline: float) -> None:
        """Wait until the kernel has bound its sockets in the jail; open each, once, by fd."""
        km = self.km
        assert km is not None
        ports = {ch: getattr(km, f"{ch}_port") for ch in CHANNELS}
        while True:
            if not self.alive():
                raise KernelStartError(f"the kernel exited ({_exit_reason(self.returncode())})")
            if time.monotonic() > deadline:
                raise KernelStartError("the kernel did not open its sockets in time")
            self.pid = self.pid or self._find_kernel_pid()
            fds = self._open_sockets(self.pid, ports) if self.pid else None
            if fds is not None:
                self._socket_fds = list(fds.values())
                km.airlock_urls = {ch: f"ipc:///proc/self/fd/{fd}" for ch, fd in fds.items()}
                # start_kernel connected the manager's control socket (interrupts, shutdown) to
                # the host-side path: connect it again, to the jail's socket
                km._close_control_socket()
                km._connect_control_socket()
                return
            time.sleep(0.02)

    @staticmethod
    def _open_sockets(pid: int, ports: dict[str, int]) -> dict[str, int] | None:
        """O_PATH fds of the kernel's bound sockets, or None while one is missing."""
        opened: dict[str, int] = {}
        dfd = -1
        try:
            dfd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            for part in JAIL_RUNTIME.strip("/").split("/"):
                nfd = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=dfd)
                os.close(dfd)
                dfd = nfd
            for ch, port in ports.items():
                fd = os.open(f"kernel-ipc-{port}", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
                             dir_fd=dfd)
                opened[ch] = fd
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    raise KernelStartError(f"the kernel's {ch} socket is not a socket")
        except OSError:
            for fd in opened.values():
                os.close(fd)
            return None
        except BaseException:
            for fd in opened.values():
                os.close(fd)
            raise
        finally:
            if dfd >= 0:
                os.close(dfd)
        return opened

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
        self.resume()
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
        if self.cgroup is not None:  # and whatever of it left the tree
            tree += [p for p in self.cgroup.pids() if p not in tree]
            if self.jail.sandboxed:
                procs.kill([p for p in self.cgroup.pids() if p != (prov.pid if prov else None)])
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
        for fd in self._socket_fds:
            os.close(fd)
        self._socket_fds = []
        self.km = None

    def stop(self, wait_s: float = 1.0) -> None:
        self.request_stop()
        self.finish_stop(time.monotonic() + wait_s)

    def log_tail(self, n: int = 2000) -> str:
        return self._log.text(n) if self._log else ""

    # -- pause between executions ------------------------------------------------------------

    def pause(self) -> None:
        """Stop the kernel (every thread of it) until the next execution; kill what it started.

        The kernel first, so it cannot start anything new; then its strays, again (a background
        thread may have forked since the cell's processes were reaped)."""
        if self.pid is None or not self.jail.sandboxed:
            return
        procs.kill([self.pid], signal.SIGSTOP)
        self.paused = True
        self._kill_strays()

    def resume(self) -> None:
        if self.paused and self.pid is not None:
            procs.kill([self.pid], signal.SIGCONT)
        self.paused = False

    def set_file_size(self, limit: int) -> None:
        """RLIMIT_FSIZE of the kernel (what it forks inherits): no file grows past it."""
        if self.pid is None:
            return
        try:
            _, hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
            soft = max(0, limit)
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (soft, hard))
        except (OSError, ValueError):
            pass

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
            process_limit: int, memory_limit: int | None = None,
            watch: Callable[[], str | None] | None = None) -> tuple[Execution, bool]:
        """Execute code; returns (execution, lost). lost: the kernel died or must be restarted.

        While the cell runs, a watchdog looks every CHECK_EVERY_S:
          * at the process limit (a fork bomb, or a pool of workers that cannot grow) the cell's
            processes are killed, which lets the kernel finish the cell with the error the last
            fork raised;
          * without a cgroup, with memory_limit: the jail's memory (summed PSS) past it kills the
            cell's processes (each process alone is held by RLIMIT_AS);
          * watch (the pool's disk quota check) returning a note stops the cell: its processes
            are killed and the kernel interrupted, as at a timeout.
        """
        log = CappedText(output_chars)
        ex = Execution()
        dropped_images = 0
        kc = self._client()
        self.resume()
        self._drain()
        ooms = self.cgroup.oom_kills() if self.cgroup is not None else 0
        t0 = time.monotonic()
        msg_id = kc.execute(code, silent=False, store_history=True, allow_stdin=False,
                            stop_on_error=False)
        deadline, interrupted_at, lost = t0 + timeout_s, None, False
        next_check = t0 + CHECK_EVERY_S
        memory_noted = limit_noted = False
        while True:
            now = time.monotonic()
            stop_note = None
            if now >= next_check and interrupted_at is None:
                next_check = now + CHECK_EVERY_S
                if self._at_process_limit(process_limit):
                    n = len(self._kill_strays())
                    if not limit_noted:  # once: later kills are of the same cell's processes
                        limit_noted = True
                        log.add(f"\n[The cell reached the limit of {process_limit} processes "
                                f"and threads; its {n} processes were killed.]\n")
                if memory_limit and self.cgroup is None:
                    used = self._jail_memory()
                    if used > memory_limit:
                        n = len(self._kill_strays())
                        if n and not memory_noted:
                            memory_noted = True
                            log.add(f"\n[The cell's processes used {used // 2**20} MiB together, "
                                    f"past the kernel's memory limit of {memory_limit // 2**20} "
                                    f"MiB: its {n} processes were killed.]\n")
                if watch is not None:
                    stop_note = watch()
            if interrupted_at is None and (now >= deadline or stop_note):
                if stop_note:
                    log.add(stop_note)
                    ex.error = True
                else:
                    ex.timed_out = True
                interrupted_at = now
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
                why = f"timed out after {timeout_s:g} s" if ex.timed_out else "was stopped"
                log.add(f"\n[Execution {why} and did not stop within "
                        f"{grace_s:g} s of an interrupt: the kernel was restarted. Variables and "
                        "imports are lost; files in /mnt/data are kept.]\n")
                break
            until = deadline if interrupted_at is None else interrupted_at + grace_s
            try:
                msg = kc.get_iopub_msg(timeout=max(0.0, min(until - now, CHECK_EVERY_S)))
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
        if self.cgroup is not None and (n := self.cgroup.oom_kills() - ooms) > 0:
            log.add(f"\n[The kernel's memory limit was reached: {n} process"
                    f"{'es were' if n > 1 else ' was'} killed.]\n")
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

    def _jail_memory(self) -> int:
        """Physical memory of the jail's processes (PSS: shared pages split between them)."""
        if self.pid is None:
            return 0
        return procs.pss_bytes([self.pid] + self._strays())

    def _at_process_limit(self, limit: int) -> bool:
        if self.pid is None:
            return False  # no strays without a kernel pid
        kids = procs.children_map()
        strays = self._strays(kids)
        # zombies hold their slots until reaped, but only live processes can be killed: once
        # the cell's processes are dead, the limit does not fire again for them
        return (any(procs.alive(p) for p in strays)
                and procs.task_count([self.pid] + strays) >= limit - 2)

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
