"""What one kernel pool holds on the host for as long as it lives: a slot.

Several airlock servers (or test pools) may run on one host. Anything they would otherwise share
is named after a slot instead, and a slot is held by one live pool at a time:

  * the range of uids its kernels switch to when the server runs as root (a uid's process count
    is host-wide, so two servers sharing uids would eat each other's RLIMIT_NPROC);
  * its cgroups (cgroups.py) and its runtime dir (connection files, kernel-private).

A slot is an flock on `<state dir>/slot-<n>.lock`: taken with LOCK_NB, released by the kernel when
the holder exits however it exits (kill -9 included). The first slot tried comes from a hash of
the pool's root (the data dir), so a server usually gets the same slot, and uids, back.
Things named after a slot whose lock is free are stale (a server that died) and are removed by
the next pool that starts.

The state dir is /run/airlock for root (a tmpfs: nothing survives a reboot); for other users
$XDG_RUNTIME_DIR/airlock, else <tmp>/airlock-<uid>.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import IO

SLOTS = 64
# First uid handed to kernels when the server runs as root: above the ranges Linux distributions
# and systemd give to users, system services and containers (up to 1879048191), below 2**31.
SANDBOX_UID_BASE = 1_900_000_000
SLOT_UIDS = 4096  # uids per slot; SLOTS * SLOT_UIDS stays far below 2**31 - SANDBOX_UID_BASE

_RUN_DIR = re.compile(r"slot-(\d+)\.run")


def state_dir() -> Path:
    if os.geteuid() == 0:
        d = Path("/run/airlock") if os.access("/run", os.W_OK) else \
            Path(tempfile.gettempdir()) / "airlock-0"
    else:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        d = Path(xdg) / "airlock" if xdg and os.access(xdg, os.W_OK) else \
            Path(tempfile.gettempdir()) / f"airlock-{os.geteuid()}"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = d.lstat()
    if st.st_uid != os.geteuid() or not os.path.isdir(d) or os.path.islink(d):
        raise RuntimeError(f"{d} is not a private dir of this user")
    os.chmod(d, 0o700)
    return d


class Slot:
    """A slot held by this process until release() (or exit)."""

    def __init__(self, hint: str, base: Path | None = None):
        self.base = base or state_dir()
        start = zlib.crc32(hint.encode()) % SLOTS
        for i in range(SLOTS):
            index = (start + i) % SLOTS
            lock = self._try(index)
            if lock is not None:
                self.index = index
                self._lock: IO[bytes] | None = lock
                break
        else:
            raise RuntimeError(f"all {SLOTS} sandbox slots of this host are in use "
                               f"(locks in {self.base})")

    def _try(self, index: int) -> IO[bytes] | None:
        f = open(self.base / f"slot-{index}.lock", "ab")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            f.close()
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        return f

    def is_free(self, index: int) -> bool:
        """No live process holds that slot (ours is never free)."""
        if index == getattr(self, "index", None):
            return False
        path = self.base / f"slot-{index}.lock"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        finally:
            os.close(fd)  # closing drops the probe's lock
        return True

    @property
    def uid_base(self) -> int:
        return SANDBOX_UID_BASE + self.index * SLOT_UIDS

    @property
    def runtime_dir(self) -> Path:
        return self.base / f"slot-{self.index}.run"

    def clean_stale(self) -> list[Path]:
        """Remove runtime dirs of free slots, and our own slot's leftovers; returns what went."""
        gone = []
        for entry in os.scandir(self.base):
            m = _RUN_DIR.fullmatch(entry.name)
            if m and (int(m.group(1)) == self.index or self.is_free(int(m.group(1)))):
                shutil.rmtree(entry.path, ignore_errors=True)
                gone.append(Path(entry.path))
        return gone

    def release(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.close()
            self._lock = None
