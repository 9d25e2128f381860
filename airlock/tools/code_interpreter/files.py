"""The host side of /mnt/data: each thread's stable dir, handing it to a pre-warmed kernel, snapshots.

Layout under the pool's root:
    threads/<thread>/   what /mnt/data is for that thread; the path never changes
    slots/<kernel>/     /mnt/data of a pre-warmed kernel that has no thread yet (empty)

A pre-warmed kernel cannot know its thread when it starts, so it binds its own empty slot dir.
When a thread takes it, the thread's files are moved into the slot (renames: same filesystem,
no copying) and the slot is renamed onto threads/<thread>. A bind mount follows the directory,
not its path, so the kernel's /mnt/data is now threads/<thread>, and the files outlive any
number of kernels.

Everything the host does in these dirs (as root, possibly) happens in dirs the jailed code can
write to, so it never follows a symlink: walks use os.fwalk, chown/stat use dir fds with
follow_symlinks=False, reads and writes open each component with O_NOFOLLOW.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

MAX_ENTRIES = 20000  # a snapshot stops there; a cell that makes more files gets a partial list

_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def dir_name(thread_id: str) -> str:
    """A file-system-safe, stable name for a thread's dir."""
    if _SAFE.fullmatch(thread_id) and thread_id not in (".", ".."):
        return thread_id
    import hashlib
    return "t-" + hashlib.sha256(thread_id.encode()).hexdigest()[:32]


def adopt(slot: Path, thread_dir: Path) -> None:
    """Make the (empty, bound) slot dir become thread_dir, carrying thread_dir's files over."""
    for _ in range(5):
        if thread_dir.exists():
            for entry in os.scandir(thread_dir):
                os.rename(entry.path, slot / entry.name)
        try:
            # replaces thread_dir atomically if it is empty; fails if a file appeared meanwhile
            os.rename(slot, thread_dir)
            return
        except OSError:
            continue
    raise RuntimeError(f"could not move {thread_dir} into its kernel's dir")


def snapshot(top: Path, owner: int | None = None) -> dict[str, tuple[int, int]]:
    """name relative to top -> (size, mtime_ns), for regular files; chowns everything to owner.

    The chown gives the kernel's uid the files the engine copied in (as root) and the files an
    earlier kernel of the thread (another uid) made.
    """
    out: dict[str, tuple[int, int]] = {}
    seen = 0
    try:
        walk = os.fwalk(top, follow_symlinks=False)
        for dirpath, dirnames, filenames, dirfd in walk:
            rel = os.path.relpath(dirpath, top)
            if owner is not None:
                st = os.stat(dirfd)
                if st.st_uid != owner:
                    os.chown(dirfd, owner, owner)
            for name in filenames + dirnames:
                seen += 1
                if seen > MAX_ENTRIES:
                    return out
                try:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if owner is not None and st.st_uid != owner and not stat.S_ISDIR(st.st_mode):
                    os.chown(name, owner, owner, dir_fd=dirfd, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    key = name if rel == "." else os.path.join(rel, name)
                    out[key] = (st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        pass
    return out


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Files that are new or modified (size or mtime) between two snapshots."""
    return sorted(name for name, sig in after.items() if before.get(name) != sig)


def _open_beneath(top: Path, name: str, flags: int, mode: int = 0o644) -> int:
    """Open top/name without following any symlink on the way (the jail controls that tree)."""
    parts = [p for p in Path(name).parts if p not in ("", ".")]
    if not parts or ".." in parts or Path(name).is_absolute():
        raise ValueError(f"not a name inside /mnt/data: {name!r}")
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts[:-1]:
            if flags & os.O_CREAT:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=fd)
    finally:
        os.close(fd)


def read_file(top: Path, name: str) -> bytes:
    fd = _open_beneath(top, name, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"not a regular file: {name!r}")
        return f.read()


def write_file(top: Path, name: str, data: bytes) -> None:
    """Write top/name; a symlink or fifo the jail planted under that name is replaced, not followed."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK
    try:
        fd = _open_beneath(top, name, flags)
    except OSError:  # ELOOP (symlink), ENXIO (fifo), EISDIR
        _unlink_beneath(top, name)
        fd = _open_beneath(top, name, flags | os.O_EXCL)
    with os.fdopen(fd, "wb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"not a regular file: {name!r}")
        f.write(data)


def _unlink_beneath(top: Path, name: str) -> None:
    parent = os.path.dirname(name)
    fd = _open_beneath(top, parent, os.O_RDONLY | os.O_DIRECTORY) if parent else \
        os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.unlink(os.path.basename(name), dir_fd=fd)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise ValueError(f"a directory is in the way: {name!r}") from None
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """rmtree that does not follow symlinks (shutil.rmtree uses fd-based walking on Linux)."""
    shutil.rmtree(path, ignore_errors=True)
