"""Kernels for conversation threads: pre-warmed pool, one kernel per thread, idle expiry, LRU cap.

Lifecycle:
  * a background thread keeps `pool_size` kernels started and warm (numpy, pandas, pyplot
    imported, cwd /mnt/data) and, every little while, stops kernels idle past idle_timeout_s;
  * a thread's first execution takes a warm kernel (or starts one when none is ready) and keeps
    it; files.py makes the thread's dir that kernel's /mnt/data;
  * at most `max_kernels` kernels are bound to threads: taking one more evicts the least
    recently used idle thread's kernel (waiting if all are executing); warm kernels come on top;
  * a kernel that died, hit a timeout it did not recover from, expired or was evicted is killed
    at once (its state is being thrown away; nothing to save): the thread's next execution runs on
    a fresh one and says so with `state_reset`. The thread's files stay.

On the host, a pool holds a slot (host.py) for its lifetime: its kernels' uids, its cgroups
(cgroups.py: one memory, process and CPU budget per kernel, or per-kernel accounting from /proc
when the host has no usable cgroup) and its runtime dirs are named after it, so two servers on
one host share none of them. Starting a pool removes what dead ones left: their runtime dirs,
cgroups, and the pre-warm slots under <root>/slots.

Per execution: the kernel is resumed, runs the cell, its leftover processes are killed and it is
paused again (no CPU between executions); /mnt/data is held to its quota (disk_bytes, disk_files:
files are limited to the room left with RLIMIT_FSIZE, a watchdog stops a cell that crosses the
quota, and files the cell created past it are deleted); at most output_files of the files it wrote
are returned, the rest are named in the logs.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import zmq

from . import files
from . import jail as jail_mod
from .cgroups import Budget, Cgroups, KernelCgroup, detect
from .errors import SandboxUnavailable
from .host import SLOT_UIDS, Slot
from .jail import Jail, UidRange
from .kernel import Kernel
from .limits import Limits
from .output import Execution

log = logging.getLogger("airlock.code_interpreter")


@dataclass
class _Thread:
    lock: threading.Lock = field(default_factory=threading.Lock)
    kernel: Kernel | None = None
    last_used: float = 0.0
    had_kernel: bool = False
    busy: bool = False
    # files the engine put in /mnt/data (name -> size): not counted against the quota
    inputs: dict[str, int] = field(default_factory=dict)


class KernelPool:
    """Jailed ipykernels for conversation threads. Thread-safe; see the module doc."""

    def __init__(self, root: Path, limits: Limits = Limits(), *, hide: Sequence[Path] = (),
                 allow_unsandboxed: bool = False, clock: Callable[[], float] = time.monotonic,
                 bwrap: str | None = None, cgroups: bool = True):
        """cgroups=False: never use cgroups, account from /proc (for tests of that fallback)."""
        self.root = Path(root)
        self.use_cgroups = cgroups
        # The bubblewrap binary; None: the one found on this machine (jail.BWRAP).
        self.bwrap = bwrap
        self.limits = limits
        self.hide = tuple(Path(h) for h in hide)
        self.allow_unsandboxed = allow_unsandboxed
        self._clock = clock
        self._cond = threading.Condition()  # guards the fields below
        self._threads: dict[str, _Thread] = {}
        self._warm: list[Kernel] = []
        self._live: set[Kernel] = set()
        self._starting = 0
        self._reserved = 0
        self._waiters = 0
        self._closed = False
        self._warmer: threading.Thread | None = None
        self._probe_lock = threading.Lock()
        self._probed = False
        self._reason: str | None = None
        self._jail: Jail | None = None
        self._uids: UidRange | None = None
        self._context = zmq.Context()
        self._runtime_base: Path | None = None
        self._slot: Slot | None = None
        self._cgroups: Cgroups | None = None
        # how each kernel's memory, processes and CPU are held together: "cgroup v1",
        # "cgroup v2", or "procfs" (summed from /proc while a cell runs); set by available()
        self.accounting = "procfs"

    # -- availability ------------------------------------------------------------------------

    def available(self) -> str | None:
        """None when kernels run jailed here; otherwise why not and how to fix it.

        The check (one jailed interpreter start, ~0.5 s) runs once per pool.
        """
        with self._probe_lock:
            if not self._probed:
                try:
                    self._take_slot()
                except (OSError, RuntimeError) as e:
                    self._reason = f"no sandbox slot on this host: {e}"
                    self._probed = True
                    return self._reason
                assert self._slot is not None
                jail = Jail(self.limits, hide=self.hide, bwrap=self.bwrap or jail_mod.BWRAP)
                uids = UidRange(self._slot.uid_base, SLOT_UIDS) if jail.privileged else None
                self._reason = jail.probe(uids.base if uids else None)
                if self._reason is None:
                    self._jail, self._uids = jail, uids
                    if jail.seccomp is None:
                        log.warning("code_interpreter: kernels run without a seccomp filter (%s): "
                                    "jailed code may create user namespaces", jail.seccomp_note)
                    self._setup_cgroups()
                elif self.allow_unsandboxed:
                    log.warning("code_interpreter runs kernels WITHOUT a sandbox (allow_unsandboxed): "
                                "%s", self._reason)
                    self._jail = Jail(self.limits, sandboxed=False)
                self._probed = True
            return self._reason

    def _take_slot(self) -> None:
        """Our slot on the host, and what dead pools left behind: runtime dirs, pre-warm slots."""
        self._slot = Slot(str(self.root.resolve()))
        for d in self._slot.clean_stale():
            log.info("code_interpreter: removed the stale runtime dir %s", d)
        stale = self.root / "slots"
        if stale.exists():
            for entry in os.scandir(stale):
                files.remove_tree(Path(entry.path))
        self._runtime_base = self._slot.runtime_dir
        self._runtime_base.mkdir(mode=0o700, exist_ok=True)

    def _setup_cgroups(self) -> None:
        assert self._slot is not None
        why = "turned off" if not self.use_cgroups else None
        if why is None:
            got = detect(f"airlock-s{self._slot.index}")
            if isinstance(got, Cgroups):
                self._cgroups = got
                slot = self._slot
                n = got.clean(slot.is_free)
                self.accounting = got.name
                log.info("code_interpreter: each kernel's memory, processes and CPU are held by "
                         "its own %s%s", got.name,
                         f" (removed {n} stale kernel cgroups)" if n else "")
                return
            why = got
        self.accounting = "procfs"
        log.warning("code_interpreter: no cgroup for kernels (%s); a kernel's memory is summed "
                    "from /proc while a cell runs, so forked processes can overshoot the limit "
                    "briefly, and there is no CPU quota per kernel", why)

    @property
    def sandboxed(self) -> bool:
        """Kernels run jailed (False also while unknown, before available() or start())."""
        self.available()
        return self._jail is not None and self._jail.sandboxed

    def _require_jail(self) -> Jail:
        self.available()
        if self._jail is None:
            raise SandboxUnavailable(f"code_interpreter is unavailable: {self._reason}")
        return self._jail

    # -- dirs --------------------------------------------------------------------------------

    def workdir(self, thread_id: str) -> Path:
        """The host dir that is the thread's /mnt/data (created if needed)."""
        path = self.root / "threads" / files.dir_name(thread_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def read_file(self, thread_id: str, name: str) -> bytes:
        """A file of the thread's /mnt/data, read without following symlinks the code planted."""
        return files.read_file(self.workdir(thread_id), name)

    def open_file(self, thread_id: str, name: str) -> BinaryIO:
        """A file of the thread's /mnt/data opened for reading (streamed, not read whole),
        reached without following symlinks the code planted."""
        return files.open_file(self.workdir(thread_id), name)

    def write_file(self, thread_id: str, name: str, data: bytes) -> None:
        """Put a file into the thread's /mnt/data without following symlinks the code planted.
        Such input files do not count against the thread's disk quota."""
        files.write_file(self.workdir(thread_id), name, data)
        st = self._state(thread_id)
        with self._cond:
            st.inputs[name] = len(data)

    def _runtime_dir(self) -> Path:
        """The host side of a kernel's runtime dir: private to the server (0700), in our slot's
        dir (a tmpfs for root), removed with the kernel and, if the server dies, by the next."""
        if self._runtime_base is None:
            self.available()
        assert self._runtime_base is not None
        path = self._runtime_base / f"k-{uuid.uuid4().hex[:12]}"
        path.mkdir(mode=0o700)
        return path

    # -- kernels -----------------------------------------------------------------------------

    def _new_kernel(self) -> Kernel:
        jail = self._require_jail()
        with self._cond:
            if self._closed:
                raise RuntimeError("the kernel pool is shut down")
            runtime = self._runtime_dir()
            uid = self._uids.take() if self._uids and jail.sandboxed else None
        slot = self.root / "slots" / runtime.name
        slot.mkdir(parents=True, mode=0o700)
        if uid is not None:
            os.chown(slot, uid, uid)
        cgroup: KernelCgroup | None = None
        if self._cgroups is not None and jail.sandboxed:
            try:
                cgroup = self._cgroups.create(runtime.name, Budget(
                    self.limits.memory_bytes, self.limits.processes + 2, self.limits.cpus))
            except OSError as e:
                shutil.rmtree(runtime, ignore_errors=True)
                files.remove_tree(slot)
                with self._cond:
                    if self._uids:
                        self._uids.give_back(uid)
                raise RuntimeError(f"could not make the kernel's cgroup: {e}") from e
        kernel = Kernel(jail, runtime, slot, uid, self._context, cgroup=cgroup)
        with self._cond:
            self._live.add(kernel)
        try:
            kernel.start(self.limits.start_timeout_s)
        except BaseException:
            self._dispose(kernel)
            raise
        return kernel

    def _dispose(self, kernel: Kernel) -> None:
        """Kill a kernel (its state is being thrown away) and free its dirs and uid."""
        try:
            kernel.finish_stop(time.monotonic())
        finally:
            if kernel.cgroup is not None:
                kernel.cgroup.kill()
                if not kernel.cgroup.remove():  # zombies still being reaped: the next start
                    log.debug("the cgroup of kernel %s is not empty yet", kernel.id)
            shutil.rmtree(kernel.runtime, ignore_errors=True)
            if kernel.workdir.parent == self.root / "slots":
                files.remove_tree(kernel.workdir)
            with self._cond:
                self._live.discard(kernel)
                if self._uids and kernel.gone:  # else the uid may still have processes
                    self._uids.give_back(kernel.uid)

    def start(self) -> None:
        """Begin pre-warming kernels in the background (returns at once)."""
        with self._cond:
            if self._warmer is not None or self._closed:
                return
            self._warmer = threading.Thread(target=self._warm_loop, name="airlock-ci-warmer",
                                            daemon=True)
            self._warmer.start()

    def _warm_loop(self) -> None:
        if self.available() is not None and not self.allow_unsandboxed:
            return
        tick = max(0.05, min(60.0, self.limits.idle_timeout_s / 4))
        retry_at = 0.0
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                wanted = len(self._warm) + self._starting < self.limits.pool_size and now >= retry_at
                if wanted:
                    self._starting += 1
                else:
                    self._cond.wait(timeout=min(tick, retry_at - now) if retry_at > now else tick)
            if not wanted:
                self.expire_idle()
                continue
            kernel = None
            try:
                kernel = self._new_kernel()
                retry_at = 0.0
            except Exception as e:  # noqa: BLE001 - keep trying, slowly
                if not self._closed:
                    log.warning("could not pre-warm a kernel: %s", e)
                retry_at = time.monotonic() + 5.0
            with self._cond:
                self._starting -= 1
                if kernel is not None and not self._closed:
                    self._warm.append(kernel)
                    kernel = None
                self._cond.notify_all()
            if kernel is not None:
                self._dispose(kernel)

    def _acquire(self, thread_id: str, st: _Thread) -> Kernel:
        """A kernel for a thread that has none: a warm one or a new one, making room if needed."""
        evicted, dead, kernel = None, [], None
        with self._cond:
            while True:
                bound = sum(1 for s in self._threads.values() if s.kernel) + self._reserved
                if bound < self.limits.max_kernels:
                    break
                idle = [s for s in self._threads.values() if s.kernel and not s.busy]
                if idle:
                    victim = min(idle, key=lambda s: s.last_used)
                    evicted, victim.kernel = victim.kernel, None
                    break
                self._cond.wait(timeout=1.0)  # every bound kernel is executing
            self._reserved += 1
            give_up = time.monotonic() + self.limits.start_timeout_s
            while kernel is None:
                while self._warm and kernel is None:
                    k = self._warm.pop(0)
                    if k.alive():
                        kernel = k
                    else:
                        dead.append(k)
                # a kernel the warmer is starting and nobody waits for yet is closer than a new one
                if kernel is not None or self._starting <= self._waiters or time.monotonic() > give_up:
                    break
                self._waiters += 1
                self._cond.wait(timeout=1.0)
                self._waiters -= 1
            self._cond.notify_all()  # the warmer refills
        try:
            for k in dead + ([evicted] if evicted else []):
                self._dispose(k)
            if kernel is None:
                kernel = self._new_kernel()
            try:
                files.adopt(kernel.workdir, self.workdir(thread_id))
            except BaseException:
                self._dispose(kernel)
                raise
            kernel.workdir = self.workdir(thread_id)
            with self._cond:
                st.kernel = kernel
            return kernel
        finally:
            with self._cond:
                self._reserved -= 1

    def _state(self, thread_id: str) -> _Thread:
        with self._cond:
            return self._threads.setdefault(thread_id, _Thread())

    # -- the API the engine uses -----------------------------------------------------------

    def execute(self, thread_id: str, code: str, timeout_s: float | None = None) -> Execution:
        """Run code in the thread's kernel; blocks. Same-thread calls run one after the other."""
        self._require_jail()
        if self._closed:
            raise RuntimeError("the kernel pool is shut down")
        self.start()
        timeout = self.limits.exec_timeout_s if timeout_s is None else timeout_s
        st = self._state(thread_id)
        with st.lock:
            stale = None
            with self._cond:
                k = st.kernel
                if k is not None and (self._clock() - st.last_used > self.limits.idle_timeout_s
                                      or not k.alive()):
                    stale, st.kernel = k, None
                st.busy = True
            try:
                if stale is not None:
                    self._dispose(stale)
                kernel, reset = st.kernel, False
                if kernel is None:
                    kernel = self._acquire(thread_id, st)
                    reset, st.had_kernel = st.had_kernel, True
                workdir = kernel.workdir
                before = files.snapshot(workdir, kernel.uid)
                kernel.arm_cpu(self.limits.cpu_seconds)
                room = self.limits.disk_bytes - before.usage(st.inputs)[0]
                kernel.set_file_size(min(self.limits.file_size_bytes, max(room, 0)))
                ex, lost = kernel.run(code, timeout, self.limits.interrupt_grace_s,
                                      self.limits.output_chars, self.limits.processes,
                                      memory_limit=self.limits.memory_bytes,
                                      watch=self._quota_watch(kernel, workdir, st))
                if not lost:
                    try:
                        kernel.reap_strays()
                        kernel.pause()
                    except Exception:  # noqa: BLE001 - a wedged kernel: drop it
                        lost = True
                if lost:
                    with self._cond:
                        st.kernel = None
                    self._dispose(kernel)
                after = files.snapshot(workdir, kernel.uid)
                notes = self._hold_quota(workdir, st, before, after)
                ex.files = self._cap_outputs(files.changed(before, after), notes)
                if notes:
                    ex.logs += "".join(notes)
                ex.state_reset = reset
                return ex
            finally:
                with self._cond:
                    st.busy = False
                    st.last_used = self._clock()
                    self._cond.notify_all()

    # -- the disk quota of /mnt/data and the files an execution returns ------------------------

    def _over_quota(self, used: tuple[int, int]) -> bool:
        return used[0] > self.limits.disk_bytes or used[1] > self.limits.disk_files

    def _quota_text(self) -> str:
        return (f"{self.limits.disk_bytes // 2**20} MiB in {self.limits.disk_files} files and "
                "directories")

    def _quota_watch(self, kernel: Kernel, workdir: Path,
                     st: _Thread) -> Callable[[], str | None]:
        """The watchdog's check while a cell runs: past the quota, no file may grow any more
        (RLIMIT_FSIZE 0) and the cell is stopped. Walks /mnt/data, so it runs at most once per
        four times the last walk's duration."""
        next_at = [0.0]

        def check() -> str | None:
            now = time.monotonic()
            if now < next_at[0]:
                return None
            snap = files.snapshot(workdir)
            next_at[0] = time.monotonic() + 4 * (time.monotonic() - now)
            if not self._over_quota(snap.usage(st.inputs)):
                return None
            kernel.set_file_size(0)
            return (f"\n[/mnt/data went over its quota of {self._quota_text()}: the cell was "
                    "stopped.]\n")
        return check

    def _hold_quota(self, workdir: Path, st: _Thread, before: files.Snapshot,
                    after: files.Snapshot) -> list[str]:
        """After an execution: if /mnt/data is over its quota, delete the files this execution
        created, newest first, until it is not. Notes for the logs (and the server log)."""
        used = after.usage(st.inputs)
        if not self._over_quota(used):
            return []
        new = sorted((n for n in after.files if n not in before.files),
                     key=lambda n: after.files[n][1], reverse=True)
        b, count = used
        deleted = []
        for name in new:
            if not (b > self.limits.disk_bytes or count > self.limits.disk_files):
                break
            try:
                b -= files.unlink(workdir, name)
            except (OSError, ValueError):
                continue
            count -= 1
            deleted.append(name)
            del after.files[name]
        log.warning("code_interpreter: /mnt/data of a thread went over its quota (%d MiB, %d "
                    "entries); %d new files deleted", used[0] // 2**20, used[1], len(deleted))
        notes = [f"\n[/mnt/data went over its quota of {self._quota_text()}: "
                 f"{len(deleted)} files this execution wrote were deleted"
                 f"{' (' + _names(deleted) + ')' if deleted else ''}.]\n"]
        if b > self.limits.disk_bytes or count > self.limits.disk_files:
            notes.append("[/mnt/data is still over its quota: delete files to write more.]\n")
        return notes

    def _cap_outputs(self, changed: list[str], notes: list[str]) -> list[str]:
        """The files an execution returns: those directly in /mnt/data first, then by name, at
        most output_files, and only names of at most MAX_NAME characters; the rest are named in
        the logs and the server log."""
        ok = [n for n in changed if len(n) <= MAX_NAME]
        ok.sort(key=lambda n: (n.count("/"), n))
        kept, rest = ok[: self.limits.output_files], ok[self.limits.output_files:]
        rest += [n for n in changed if len(n) > MAX_NAME]
        if rest:
            notes.append(f"\n[{len(rest)} more files were written to /mnt/data and not returned "
                         f"(at most {self.limits.output_files} per execution): "
                         f"{_names(rest)}.]\n")
            log.info("code_interpreter: an execution wrote %d more files than it returns (%d); "
                     "not returned: %s", len(rest), self.limits.output_files, _names(rest))
        return sorted(kept)

    def expire_idle(self, now: float | None = None) -> int:
        """Stop the kernels of threads idle for longer than idle_timeout_s; how many were stopped."""
        now = self._clock() if now is None else now
        victims = []
        with self._cond:
            for st in self._threads.values():
                if st.kernel and not st.busy and now - st.last_used > self.limits.idle_timeout_s:
                    victims.append(st.kernel)
                    st.kernel = None
        for k in victims:
            self._dispose(k)
        return len(victims)

    def drop(self, thread_id: str) -> None:
        """Forget a thread: stop its kernel and delete its dir."""
        with self._cond:
            st = self._threads.get(thread_id)
        if st is not None:
            with st.lock:
                with self._cond:
                    kernel, st.kernel = st.kernel, None
                    self._threads.pop(thread_id, None)
                if kernel is not None:
                    self._dispose(kernel)
        files.remove_tree(self.root / "threads" / files.dir_name(thread_id))

    def live_kernels(self) -> int:
        """Kernel processes running now: bound to threads, warm, or starting."""
        with self._cond:
            return len(self._live)

    def rss_bytes(self, thread_id: str) -> int | None:
        """RSS of the thread's kernel (its whole process tree), None if it has none."""
        with self._cond:
            st = self._threads.get(thread_id)
            kernel = st.kernel if st else None
        return kernel.rss_bytes() if kernel else None

    def shutdown(self) -> None:
        """Stop every kernel (politely, then by force) and remove their runtime dirs."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            warmer = self._warmer
            starting = [k for k in self._live if k.pid is None]
        for k in starting:  # their start fails at once; whoever started them disposes of them
            k.kill_processes()
        if warmer is not None:
            warmer.join(timeout=self.limits.start_timeout_s + 5)
        with self._cond:
            kernels = list(self._live)
            self._warm.clear()
            for st in self._threads.values():
                st.kernel = None
        for k in kernels:
            k.request_stop()
        # ipykernel 7 may take ~10 s to exit politely (an output flush that waits out its
        # timeout); nothing of a kernel's state is kept, so it gets a moment, then SIGKILL
        deadline = time.monotonic() + 0.5
        for k in kernels:
            k.finish_stop(deadline)
            self._dispose(k)
        if self._runtime_base is not None:
            shutil.rmtree(self._runtime_base, ignore_errors=True)
        files.remove_tree(self.root / "slots")
        if self._cgroups is not None:
            self._cgroups.close()
        if self._slot is not None:
            self._slot.release()
        self._context.destroy(linger=0)


MAX_NAME = 255  # longest path (relative to /mnt/data) an execution returns as a file


def _names(names: list[str], n: int = 5, width: int = 80) -> str:
    """A few names, shortened, for a note; "..." when there are more."""
    shown = [x if len(x) <= width else x[: width // 2] + "…" + x[-width // 2:] for x in names[:n]]
    return ", ".join(shown) + (", …" if len(names) > n else "")
