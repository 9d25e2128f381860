"""One memory, process and CPU budget per kernel: a cgroup for each, when the host lets us.

rlimits are per process: RLIMIT_AS bounds each process of the jail, so a cell that forks N
children may use N times the memory budget. A cgroup bounds them all together: everything the
kernel runs (bwrap, the kernel, every child, their /tmp and /dev/shm pages) is in its cgroup.

Layout, under the server's own cgroup in each hierarchy used:
    airlock-s<slot>/          the pool's group (host.py's slot: unique among live servers)
        k-<kernel id>/        one kernel: memory limit, pids limit, CPU quota

cgroup v2 is used when the server's cgroup offers the memory and pids controllers (a delegated
subtree, e.g. systemd's Delegate=yes, or root on a v2 host). v2 forbids processes in a cgroup
whose children have controllers enabled: if the server is alone in its cgroup it moves itself
into a leaf `airlock-server` first; if other processes share it, v2 is not used.
Otherwise cgroup v1 (separate memory and pids hierarchies, cpu when mounted) when their dirs are
writable. Otherwise there is none: `detect` says why, and the pool falls back to per-kernel
accounting from /proc (kernel.py: summing PSS while a cell runs), which can overshoot by what a
cell allocates between two checks.

A kernel is put in its cgroup before anything of it runs: its command is wrapped in a tiny
`sh -c` that writes its own pid into the cgroup and then execs bwrap.
OOM kills inside a kernel's cgroup are counted (memory.events / memory.oom_control) and reported
in the execution's logs; the limit kills the process that allocates (or the largest of the
group), not the whole group.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WRAPPER = ('while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; '
           'exec "$@"')
_GROUP = re.compile(r"airlock-s(\d+)")
CPU_PERIOD_US = 100_000


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@dataclass(frozen=True)
class Budget:
    memory_bytes: int
    tasks: int
    cpus: float  # 0: no CPU quota


class KernelCgroup:
    """The cgroup (one dir per hierarchy) of one kernel."""

    def __init__(self, version: int, dirs: list[Path]):
        self.version, self.dirs = version, dirs

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def wrap(self, argv: list[str]) -> list[str]:
        """argv, started inside this cgroup."""
        return ["/bin/sh", "-c", WRAPPER, "airlock-cgroup", *self.procs_files, "--", *argv]

    def _file(self, name: str) -> Path | None:
        for d in self.dirs:
            if (d / name).exists():
                return d / name
        return None

    def oom_kills(self) -> int:
        """Processes the memory limit has killed so far."""
        f = self._file("memory.events" if self.version == 2 else "memory.oom_control")
        if f is None:
            return 0
        try:
            for line in _read(f).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def memory_bytes(self) -> int | None:
        f = self._file("memory.current" if self.version == 2 else "memory.usage_in_bytes")
        try:
            return int(_read(f)) if f else None
        except (OSError, ValueError):
            return None

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                out.update(int(x) for x in _read(d / "cgroup.procs").split())
        return sorted(out)

    def kill(self) -> None:
        """SIGKILL everything in the group (also what escaped the kernel's process tree)."""
        if self.version == 2 and (self.dirs[0] / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(self.dirs[0] / "cgroup.kill", "1")
                return
        for _ in range(10):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """rmdir the group; False while processes (or zombies) are still in it."""
        ok = True
        for d in self.dirs:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok


# SIGKILLed processes leave their group only once the kernel has reaped them, which takes a
# moment on a busy host: rmdir waits for that, this long at most.
REMOVE_WAIT_S = 5.0


def _kill_and_remove(cg: KernelCgroup) -> bool:
    deadline = time.monotonic() + REMOVE_WAIT_S
    while True:
        cg.kill()
        if cg.remove():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


class Cgroups:
    """The pool's cgroups: makes one per kernel. Build with `detect`."""

    def __init__(self, version: int, groups: list[Path], controllers: frozenset[str]):
        self.version = version
        self.groups = groups  # the pool's group dir in each hierarchy used
        self.controllers = controllers

    @property
    def name(self) -> str:
        return f"cgroup v{self.version}"

    def create(self, name: str, budget: Budget) -> KernelCgroup:
        dirs = [g / name for g in self.groups]
        for d in dirs:
            d.mkdir(exist_ok=True)
        cg = KernelCgroup(self.version, dirs)
        try:
            self._limit(cg, budget)
        except OSError:
            cg.remove()
            raise
        return cg

    def _limit(self, cg: KernelCgroup, b: Budget) -> None:
        quota = int(b.cpus * CPU_PERIOD_US) if b.cpus > 0 else 0
        if self.version == 2:
            d = cg.dirs[0]
            _write(d / "memory.max", str(b.memory_bytes))
            if (d / "memory.swap.max").exists():
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(b.tasks))
            if quota and (d / "cpu.max").exists():
                _write(d / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return
        for d in cg.dirs:
            if (d / "memory.limit_in_bytes").exists():
                _write(d / "memory.limit_in_bytes", str(b.memory_bytes))
                if (d / "memory.memsw.limit_in_bytes").exists():  # no swapping past it either
                    with contextlib.suppress(OSError):
                        _write(d / "memory.memsw.limit_in_bytes", str(b.memory_bytes))
            if (d / "pids.max").exists():
                _write(d / "pids.max", str(b.tasks))
            if quota and (d / "cpu.cfs_quota_us").exists():
                _write(d / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(d / "cpu.cfs_quota_us", str(quota))

    def clean(self, is_stale: Callable[[int], bool]) -> int:
        """Remove kernel groups under our own group (a previous server in our slot) and the
        groups of slots is_stale says are dead; kills what is left in them. How many went."""
        n = 0
        for g in self.groups:
            for top in [g] + [p for p in g.parent.iterdir()
                              if p != g and (m := _GROUP.fullmatch(p.name)) and is_stale(int(m.group(1)))]:
                if not top.is_dir():
                    continue
                for k in [p for p in top.iterdir() if p.is_dir()]:
                    n += _kill_and_remove(KernelCgroup(self.version, [k]))
                if top != g:
                    with contextlib.suppress(OSError):
                        os.rmdir(top)
        return n

    def close(self) -> None:
        for g in self.groups:
            with contextlib.suppress(OSError):
                os.rmdir(g)


# -- detection --------------------------------------------------------------------------------

@dataclass
class _Mount:
    fstype: str
    root: str
    point: str
    options: set[str]


def _mounts(mountinfo: str) -> list[_Mount]:
    out = []
    for line in Path(mountinfo).read_text().splitlines():
        left, _, right = line.partition(" - ")
        f, r = left.split(), right.split()
        if len(f) < 5 or len(r) < 3 or r[0] not in ("cgroup", "cgroup2"):
            continue
        out.append(_Mount(r[0], f[3], f[4].replace("\\040", " "), set(r[2].split(","))))
    return out


def _memberships(cgroup_file: str) -> list[tuple[set[str], str]]:
    out = []
    for line in Path(cgroup_file).read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        out.append((set(controllers.split(",")) if controllers else set(), path))
    return out


def _dir_of(mount: _Mount, path: str) -> Path:
    root = mount.root.rstrip("/")
    rel = path[len(root):] if root and path.startswith(root) else path
    return Path(mount.point + "/" + rel.lstrip("/")).resolve()


def detect(name: str, *, mountinfo: str = "/proc/self/mountinfo",
           cgroup_file: str = "/proc/self/cgroup") -> Cgroups | str:
    """The pool's cgroups, named `name`, or why there are none here."""
    try:
        mounts = _mounts(mountinfo)
        members = _memberships(cgroup_file)
    except OSError as e:
        return f"cannot read the process's cgroups ({e})"
    reasons = []
    v2 = [m for m in mounts if m.fstype == "cgroup2"]
    own2 = [p for c, p in members if not c]
    if v2 and own2:
        got = _v2(name, _dir_of(v2[0], own2[0]))
        if isinstance(got, Cgroups):
            return got
        reasons.append(got)
    got = _v1(name, mounts, members)
    if isinstance(got, Cgroups):
        return got
    reasons.append(got)
    return "; ".join(reasons)


def _v2(name: str, own: Path) -> Cgroups | str:
    try:
        available = set(_read(own / "cgroup.controllers").split())
    except OSError as e:
        return f"cgroup v2: {e}"
    if not {"memory", "pids"} <= available:
        return (f"cgroup v2: the memory and pids controllers are not delegated to {own} "
                f"(it has: {' '.join(sorted(available)) or 'none'})")
    want = ["memory", "pids"] + (["cpu"] if "cpu" in available else [])
    enable = " ".join("+" + c for c in want)
    try:
        try:
            _write(own / "cgroup.subtree_control", enable)
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            # processes in `own` (this server): v2 wants them in a leaf before enabling
            others = [p for p in _read(own / "cgroup.procs").split() if int(p) != os.getpid()]
            if others:
                return (f"cgroup v2: {own} holds other processes than this server, so it cannot "
                        "have child groups with controllers; run airlock in a cgroup of its own "
                        "(systemd: a service or `systemd-run --scope -p Delegate=yes`)")
            leaf = own / "airlock-server"
            leaf.mkdir(exist_ok=True)
            _write(leaf / "cgroup.procs", str(os.getpid()))
            _write(own / "cgroup.subtree_control", enable)
        group = own / name
        group.mkdir(exist_ok=True)
        _write(group / "cgroup.subtree_control", enable)
    except OSError as e:
        return f"cgroup v2: cannot make child groups of {own} ({e})"
    return Cgroups(2, [group], frozenset(want))


def _v1(name: str, mounts: list[_Mount], members: list[tuple[set[str], str]]) -> Cgroups | str:
    groups: list[Path] = []
    controllers: set[str] = set()
    for want, required in (("memory", True), ("pids", True), ("cpu", False)):
        mount = next((m for m in mounts if m.fstype == "cgroup" and want in m.options), None)
        path = next((p for c, p in members if want in c), None)
        if mount is None or path is None:
            if required:
                return f"cgroup v1: no {want} hierarchy is mounted"
            continue
        group = _dir_of(mount, path) / name
        try:
            group.mkdir(exist_ok=True)
        except OSError as e:
            for g in groups:
                with contextlib.suppress(OSError):
                    os.rmdir(g)
            return f"cgroup v1: cannot make {group} ({e.strerror})"
        if group not in groups:
            groups.append(group)
        controllers.add(want)
    return Cgroups(1, groups, frozenset(controllers))
