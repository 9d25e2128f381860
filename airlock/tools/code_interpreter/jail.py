"""How a kernel is confined: the bubblewrap command line, the kernel's environment, its user.

The jail (one per kernel):
  * mount namespace whose root is an empty tmpfs, remounted read-only once set up. Read-only
    binds of /usr and /etc, the /bin, /sbin, /lib* entries (as the symlinks they are on
    merged-/usr systems), and the interpreter: sys.prefix, sys.base_prefix, the exec prefixes and
    site-packages dirs. Nothing else of the host is there: not /home, /root, /var, /srv, the
    airlock data dir or the repository. Each `hide` path that would still be visible (it lies
    under a bound dir) is covered by an empty tmpfs (a file by /dev/null).
  * /dev (bwrap's minimal one, plus its own /dev/shm tmpfs), a fresh /proc, a private /tmp
    tmpfs of limits.tmp_bytes (HOME and MPLCONFIGDIR live there), /mnt a read-only tmpfs with the
    thread's dir bound on /mnt/data: the only writable place that outlives the kernel.
  * the kernel's runtime dir, /run/kernel: a small tmpfs of the jail's own holding the
    connection file (boot.py writes it from its config) and the zmq ipc sockets. Nothing of the
    host is writable there, and it vanishes with the jail. The host reaches the sockets through
    /proc/<kernel pid>/root, opening each one once (O_PATH, O_NOFOLLOW per component) before any
    user code has run, and connects zmq to /proc/self/fd/<that fd> (kernel.py): a socket the
    code later replaces (or a symlink it plants) is never followed.
  * a seccomp filter (seccomp.py, bwrap --seccomp FD): no new namespaces (so no user namespace
    with capabilities in it), no mounts, keyrings, bpf, io_uring, ptrace and the like.
  * a cgroup of its own when the host allows (cgroups.py): one memory, process and CPU budget
    for the kernel and everything it starts; the command is wrapped so it starts inside it.
  * its own network namespace (nothing but its own loopback: the host's ports, the airlock
    server's included, are unreachable, and so is everything else), pid, ipc, uts and cgroup
    namespaces; --new-session; --die-with-parent, so killing the server kills every kernel.
  * bwrap reads its options from a pipe (--args FD): the host's `ps` and the jail's
    /proc/1/cmdline do not list the host paths bound.

Who the kernel runs as, and why fork bombs are contained:
  RLIMIT_NPROC is what bounds a fork bomb, and Linux does not enforce it for root (kuid 0),
  even inside a user namespace that maps to root. So:
  * server running as root (this project's machines): bwrap runs privileged (no user namespace),
    keeps only CAP_SETUID/CAP_SETGID for the child, and boot.py switches to a uid of its own
    before setting the rlimits. The count RLIMIT_NPROC checks is per uid and host-wide, so each
    kernel gets a distinct uid from its server's own range (host.py: a slot per live server,
    held by an flock), and uids with processes on the host are skipped: neither another kernel
    nor another airlock server on the host shares it. Its files in /mnt/data are chowned to that
    uid before each execution (files.py).
  * server running as a normal user: bwrap runs unprivileged in a new user namespace (the kernel
    keeps the user's uid; --disable-userns forbids nesting). The RLIMIT_NPROC count is per
    (user namespace, uid), so the limit boot.py sets covers only that kernel's tasks.
  Either way no_new_privs is set (bwrap does it), so setuid binaries under /usr do not elevate,
  and the seccomp filter denies user namespaces: bwrap's --disable-userns needs --unshare-user,
  which the root case cannot use (a kernel mapped to root escapes RLIMIT_NPROC).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import seccomp
from .host import SANDBOX_UID_BASE, SLOT_UIDS
from .limits import Limits

# The bubblewrap binary; None when it is not installed. Module-level so tests can swap it.
BWRAP: str | None = shutil.which("bwrap") or (
    "/usr/bin/bwrap" if os.path.exists("/usr/bin/bwrap") else None)

BOOT_SOURCE = (Path(__file__).with_name("boot.py")).read_text()
# boot.py travels in the environment, so `ps` shows a short command line
BOOT_STUB = "import os; exec(compile(os.environ.pop('AIRLOCK_CI_BOOT_PY'), 'airlock-boot', 'exec'))"

MNT_DATA = "/mnt/data"
JAIL_RUNTIME = "/run/kernel"  # the jail's own tmpfs: connection file and ipc sockets
JAIL_CONNECTION_FILE = JAIL_RUNTIME + "/connection.json"
JAIL_HOME = "/tmp/home"
JAIL_MPLCONFIGDIR = "/tmp/matplotlib"

WARM_STARTUP = [
    "import numpy as np, pandas as pd, matplotlib.pyplot as plt",
]

FIX_INSTALL = ("Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: "
               "`dnf install bubblewrap`, Arch: `pacman -S bubblewrap`)")
FIX_USERNS = ("bubblewrap could not create its namespaces. When airlock does not run as root, "
              "unprivileged user namespaces must be allowed: "
              "`sysctl -w user.max_user_namespaces=15000`, "
              "on Debian before 11 `sysctl -w kernel.unprivileged_userns_clone=1`, on Ubuntu 23.10+ "
              "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` "
              "(or an AppArmor profile for bwrap); "
              "inside Docker, run the container with `--security-opt seccomp=unconfined "
              "--security-opt apparmor=unconfined` or `--privileged`")


def interpreter_dirs() -> list[str]:
    """Host dirs the interpreter needs besides /usr: its prefixes and site-packages dirs."""
    dirs = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    dirs += site.getsitepackages()
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        dirs.append(site.getusersitepackages())
    # .pth files may add dirs; those named like package dirs are bound, script dirs are not
    dirs += [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
    dirs.append(os.path.dirname(os.path.realpath(sys.executable)))
    out: list[str] = []
    for d in dirs:
        d = os.path.abspath(d)
        if os.path.isdir(d) and d not in out:
            out.append(d)
    return out


def _under(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top.rstrip("/") + "/")


@dataclass
class Mount:
    op: str          # the bwrap option: ro-bind, bind, tmpfs, dev, proc, symlink, dir
    dest: str
    src: str | None = None
    perms: str | None = None
    size: int | None = None


class Jail:
    """Builds the command line and environment of one kernel; sandboxed=False gives a bare kernel."""

    def __init__(self, limits: Limits, *, hide: tuple[Path, ...] = (), sandboxed: bool = True,
                 bwrap: str | None = None, use_seccomp: bool = True):
        self.limits = limits
        self.hide = tuple(Path(h) for h in hide)
        self.sandboxed = sandboxed
        self.bwrap = bwrap
        self.privileged = os.geteuid() == 0
        self.python = sys.executable
        # the seccomp program, None when this architecture has none (or it was turned off)
        self.seccomp: bytes | None = None
        self.seccomp_note = seccomp.supported() if use_seccomp else "turned off"
        if self.seccomp_note is None:
            self.seccomp = seccomp.program()

    # -- what the kernel runs --------------------------------------------------------------

    def tail(self, connection_file: str = "{connection_file}") -> list[str]:
        """The interpreter's part of the command line (jupyter_client fills in {connection_file});
        in the jail, the connection file is the one boot.py writes in the jail's runtime dir."""
        cf = JAIL_CONNECTION_FILE if self.sandboxed else connection_file
        return [self.python, "-c", BOOT_STUB, "-f", cf]

    def launch(self, workdir: Path) -> Launch:
        """The command before tail() and the fds it reads: bwrap takes its options from a pipe
        (--args FD: neither the host's `ps` nor /proc/1/cmdline inside the jail shows the host
        paths bound) and its seccomp program from another."""
        if not self.sandboxed:
            return Launch([], [])
        if self.bwrap is None:
            raise RuntimeError("bubblewrap (bwrap) is not installed, and every kernel runs inside it. "
                               f"{FIX_INSTALL}.")
        fds: list[int] = []
        try:
            options = self.bwrap_options(workdir)
            if self.seccomp is not None:
                fds.append(_pipe_with(self.seccomp))
                options += ["--seccomp", str(fds[-1])]
            data = b"".join(os.fsencode(a) + b"\0" for a in options)
            fds.append(_pipe_with(data))
            return Launch([self.bwrap, "--args", str(fds[-1]), "--"], fds)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    def env(self, workdir: Path, runtime: Path, uid: int | None, *, probe: bool = False,
            warm: bool = True, connection: dict[str, object] | None = None) -> dict[str, str]:
        """The kernel's whole environment: nothing of the server's (it may hold secrets).
        connection: what boot.py writes as the jail's connection file."""
        home = JAIL_HOME if self.sandboxed else str(runtime / "home")
        mplconfig = JAIL_MPLCONFIGDIR if self.sandboxed else str(runtime / "matplotlib")
        threads = str(max(1, min(4, os.cpu_count() or 1)))
        bin_dir = os.path.dirname(self.python)
        boot = {
            "uid": uid, "gid": uid,
            "memory_bytes": self.limits.memory_bytes,
            "file_size_bytes": self.limits.file_size_bytes,
            "processes": self.limits.processes,
            "cpu_seconds": self.limits.cpu_seconds,
            # root can raise a hard limit later (the per-execution re-arm), others cannot
            "cpu_hard": self.limits.cpu_seconds + 5 if self.privileged else -1,
            "make_dirs": [home, mplconfig],
            "connection": connection if self.sandboxed else None,
            "connection_file": JAIL_CONNECTION_FILE,
            "cwd": MNT_DATA if self.sandboxed else str(workdir),
            "startup": WARM_STARTUP if warm else [],
            "inline_plots": warm,
            "probe": probe,
        }
        return {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": "/tmp" if self.sandboxed else str(runtime),
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": mplconfig,
            "PYTHONDONTWRITEBYTECODE": "1",
            # BLAS/OpenMP thread pools and glibc malloc arenas each reserve address space;
            # bounded here so RLIMIT_AS means the same on a 2-core and a 64-core host.
            "OPENBLAS_NUM_THREADS": threads,
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "MALLOC_ARENA_MAX": "2",
            "AIRLOCK_CI_BOOT": json.dumps(boot),
            "AIRLOCK_CI_BOOT_PY": BOOT_SOURCE,
        }

    # -- bubblewrap --------------------------------------------------------------------------

    def mounts(self, workdir: Path) -> list[Mount]:
        """Every mount of the jail, parents before children (bwrap applies them in order)."""
        ms = [Mount("ro-bind", "/usr", "/usr")]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            p = "/" + name
            if os.path.islink(p):
                ms.append(Mount("symlink", p, os.readlink(p)))
            elif os.path.isdir(p):
                ms.append(Mount("ro-bind", p, p))
        ms.append(Mount("ro-bind", "/etc", "/etc"))
        for d in interpreter_dirs():
            if not any(m.op == "ro-bind" and _under(d, m.dest) for m in ms):
                ms.append(Mount("ro-bind", d, d))
        ms += [Mount("dev", "/dev"), Mount("proc", "/proc"),
               Mount("tmpfs", "/tmp", perms="1777", size=self.limits.tmp_bytes),
               Mount("tmpfs", "/dev/shm", perms="1777", size=self.limits.tmp_bytes)]
        binds = [m.dest for m in ms if m.op == "ro-bind"]
        for h in self.hide:
            for p in dict.fromkeys([os.path.abspath(h), os.path.realpath(h)]):
                if not any(_under(p, b) for b in binds) or not os.path.exists(p):
                    continue  # not visible in the jail anyway
                if os.path.isdir(p):
                    ms.append(Mount("tmpfs", p, perms="0755", size=4096))
                else:
                    ms.append(Mount("ro-bind", p, "/dev/null"))
        ms += [Mount("tmpfs", JAIL_RUNTIME, perms="1777", size=1024 * 1024),
               Mount("tmpfs", "/mnt", perms="0755", size=4096),
               Mount("bind", MNT_DATA, str(workdir))]
        # stable sort by depth: a mount never hides one placed after it at a deeper path
        return sorted(ms, key=lambda m: m.dest.rstrip("/").count("/"))

    def bwrap_options(self, workdir: Path) -> list[str]:
        """bwrap's options (everything between the binary and `--`)."""
        argv = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--hostname", "sandbox", "--new-session",
                "--die-with-parent"]
        if self.privileged:
            argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            argv += ["--unshare-user", "--disable-userns"]
        placed: list[Mount] = []
        for m in self.mounts(workdir):
            # bwrap creates missing parents as root-only (0700) dirs, which the kernel's user
            # could not traverse: create them first, world-traversable.
            parts = m.dest.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                parent = "/" + "/".join(parts[:i])
                if any(p.dest == parent or (p.op in ("ro-bind", "bind") and _under(parent, p.dest))
                       for p in placed):
                    continue
                argv += ["--perms", "0755", "--dir", parent]
                placed.append(Mount("dir", parent))
            if m.perms:
                argv += ["--perms", m.perms]
            if m.size:
                argv += ["--size", str(m.size)]
            if m.op in ("ro-bind", "bind", "symlink"):
                if m.src is None:
                    raise ValueError(f"the {m.op} mount of {m.dest} has no source")
                argv += [f"--{m.op}", m.src, m.dest]
            else:
                argv += [f"--{m.op}", m.dest]
            placed.append(m)
        # no --chdir: the dir belongs to the kernel's uid; boot.py changes into it after setuid
        argv += ["--remount-ro", "/mnt", "--remount-ro", "/"]
        return argv

    # -- does it work here? ------------------------------------------------------------------

    def probe(self, uid: int | None) -> str | None:
        """None if a jailed interpreter starts here and can import ipykernel, else why + the fix.

        When it starts without the seccomp filter but not with it (a kernel built without
        seccomp), the filter is dropped (seccomp_note says why) and the jail is still used."""
        why = self._probe(uid)
        if why is not None and self.seccomp is not None and self.sandboxed:
            saved, self.seccomp = self.seccomp, None
            if self._probe(uid) is None:
                self.seccomp_note = f"the jail does not start with a seccomp filter: {why}"
                return None
            self.seccomp = saved
        return why

    def _probe(self, uid: int | None) -> str | None:
        if not self.bwrap or not os.path.exists(self.bwrap):
            return f"bubblewrap (bwrap) is not installed, and every kernel runs inside it. {FIX_INSTALL}."
        with tempfile.TemporaryDirectory(prefix="airlock-ci-probe-") as tmp:
            workdir, runtime = Path(tmp, "data"), Path(tmp, "run")
            workdir.mkdir()
            runtime.mkdir()
            if uid is not None:
                os.chmod(tmp, 0o755)
                for d in (workdir, runtime):
                    os.chown(d, uid, uid)
            try:
                launch = self.launch(workdir)
            except (OSError, RuntimeError) as e:
                return f"bubblewrap could not be run ({e}). {FIX_INSTALL}."
            argv = launch.argv + self.tail()[:-2]  # no connection file
            try:
                r = subprocess.run(argv, env=self.env(workdir, runtime, uid, probe=True),
                                   capture_output=True, text=True, timeout=60,
                                   pass_fds=launch.fds)
            except (OSError, subprocess.TimeoutExpired) as e:
                return f"bubblewrap could not be run ({e}). {FIX_INSTALL}."
            finally:
                launch.close()
        if r.returncode == 0 and "airlock-probe-ok" in r.stdout:
            return None
        err = (r.stderr or r.stdout).strip()[-800:]
        if err.startswith("bwrap:") and ("namespace" in err or "Operation not permitted" in err
                                         or "Permission denied" in err):
            return f"{err}\n{FIX_USERNS}."
        return (f"a jailed Python could not start ({err or 'exit status ' + str(r.returncode)}); "
                "the jail binds sys.prefix, sys.base_prefix and the site-packages dirs read-only, "
                "so the interpreter must live in those")


@dataclass
class Launch:
    """A kernel's command prefix and the fds it must inherit (closed by close(), once started)."""

    argv: list[str]
    fds: list[int]

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


def _pipe_with(data: bytes) -> int:
    """The read end of a pipe holding data (written whole now: it fits the pipe's buffer)."""
    if len(data) > 60000:
        raise ValueError("too much data for a pipe written before its reader starts")
    r, w = os.pipe()
    try:
        os.write(w, data)
    finally:
        os.close(w)
    return r


class UidRange:
    """Hands out a distinct unprivileged uid per kernel when the server runs as root.

    The range is the server's own (host.py's slot); a uid that any process on the host runs as
    is skipped (a kernel of a server of an older airlock, or anything else), and uids are taken
    round-robin, so a uid given back is not reused at once.
    """

    def __init__(self, base: int = SANDBOX_UID_BASE, count: int = SLOT_UIDS):
        self.base, self.count = base, count
        self._next = 0
        self._used: set[int] = set()

    def take(self) -> int:
        busy = _uids_in_use()
        for _ in range(self.count):
            uid = self.base + self._next
            self._next = (self._next + 1) % self.count
            if uid not in self._used and uid not in busy:
                self._used.add(uid)
                return uid
        raise RuntimeError("no free sandbox uid")

    def give_back(self, uid: int | None) -> None:
        self._used.discard(uid)


def _uids_in_use() -> set[int]:
    """Effective uids of the host's processes (/proc/PID is owned by the process's euid)."""
    out = set()
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            try:
                out.add(e.stat().st_uid)
            except OSError:
                pass
    return out
