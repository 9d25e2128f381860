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
write to, so it never follows a symlink: walks open each directory with O_NOFOLLOW relative to
its parent's fd, chown/stat use dir fds with follow_symlinks=False, reads and writes open each
component with O_NOFOLLOW. Walks do not recurse and keep a bounded number of fds open, so a tree
of any depth (a cell can nest thousands of dirs) is walked, chowned and removed.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

MAX_ENTRIES = 50000  # files a snapshot records; past it (over any quota) it only counts
WINDOW = 48  # directory fds a walk keeps open at once, however deep the tree

_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


class _Frame:
    __slots__ = ("parts", "fd", "ident", "names", "i")

    def __init__(self, parts: tuple[str, ...], fd: int, ident: tuple[int, int], names: list[str]):
        self.parts, self.fd, self.ident, self.names, self.i = parts, fd, ident, names, 0


def walk(top: Path, *, post_dirs: bool = False):
    """Every entry under top, without recursion and without following symlinks:
    yields (dir_fd, name, stat, rel_path) for each entry (stat not following symlinks), and
    with post_dirs also (dir_fd, name, None, rel_path) for a directory once its contents are done
    (where it can be removed). dir_fd is only valid until the next step.

    Depth is unbounded but open fds are not: at most WINDOW directories stay open; a shallower
    one whose fd was closed is reopened component by component (O_NOFOLLOW each, and checked to
    be the same directory) when the walk comes back to it.
    """
    try:
        top_fd = os.open(top, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return
    st = os.fstat(top_fd)
    stack = [_Frame((), top_fd, (st.st_dev, st.st_ino), _listdir(top_fd))]
    open_frames = [stack[0]]

    def fd_of(frame: _Frame) -> int | None:
        if frame.fd >= 0:
            return frame.fd
        # reopen from the nearest ancestor still open
        k = stack.index(frame)
        j = k - 1
        while stack[j].fd < 0:
            j -= 1
        fd = stack[j].fd
        keep_from = k - WINDOW // 2  # the way back up will want these; shallower ones close
        for m in range(j + 1, k + 1):
            try:
                nfd = os.open(stack[m].parts[-1], _DIR_FLAGS, dir_fd=fd)
            except OSError:
                nfd = -1
            if nfd >= 0:
                s = os.fstat(nfd)
                if (s.st_dev, s.st_ino) != stack[m].ident:
                    os.close(nfd)
                    nfd = -1  # swapped under us: that branch is not walked further
            if fd != stack[j].fd and stack[m - 1].fd < 0:
                os.close(fd)  # a transient step on the way down
            if nfd < 0:
                return None
            fd = nfd
            if m >= keep_from:
                stack[m].fd = nfd
                open_frames.append(stack[m])
        _trim()
        return frame.fd

    def _trim() -> None:
        while len(open_frames) > WINDOW:
            victim = min((f for f in open_frames if f is not stack[0] and f is not stack[-1]),
                         key=lambda f: len(f.parts), default=None)
            if victim is None:
                return
            os.close(victim.fd)
            victim.fd = -1
            open_frames.remove(victim)

    try:
        while stack:
            frame = stack[-1]
            if frame.i >= len(frame.names):
                stack.pop()
                if frame.fd >= 0:
                    os.close(frame.fd)
                    open_frames.remove(frame)
                    frame.fd = -1
                if post_dirs and stack:
                    parent = stack[-1]
                    pfd = fd_of(parent)
                    if pfd is None:
                        parent.i = len(parent.names)
                        continue
                    yield pfd, frame.parts[-1], None, "/".join(frame.parts)
                continue
            name = frame.names[frame.i]
            frame.i += 1
            fd = fd_of(frame)
            if fd is None:
                frame.i = len(frame.names)
                continue
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            rel = "/".join(frame.parts + (name,))
            yield fd, name, st, rel
            if stat.S_ISDIR(st.st_mode):
                fd = fd_of(frame)  # the consumer may have needed fds meanwhile
                if fd is None:
                    continue
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                cst = os.fstat(child)
                try:
                    names = _listdir(child)
                except OSError:
                    os.close(child)
                    continue
                new = _Frame(frame.parts + (name,), child, (cst.st_dev, cst.st_ino), names)
                stack.append(new)
                open_frames.append(new)
                _trim()
    finally:
        for f in open_frames:
            if f.fd >= 0:
                os.close(f.fd)
                f.fd = -1


def _listdir(fd: int) -> list[str]:
    return sorted(os.listdir(fd))


class Snapshot:
    """What /mnt/data holds: its regular files (name relative to top -> (size, mtime_ns)), up to
    MAX_ENTRIES of them, and the whole tree's disk use and entry count (for the quota)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, int]] = {}
        self.disk_bytes = 0
        self.entries = 0
        self.complete = True  # every regular file is in `files`

    def usage(self, exclude: dict[str, int] | None = None) -> tuple[int, int]:
        """(bytes, entries), without the files in exclude (name -> size) that still have that size."""
        if not exclude:
            return self.disk_bytes, self.entries
        b, n = self.disk_bytes, self.entries
        for name, size in exclude.items():
            sig = self.files.get(name)
            if sig is not None and sig[0] == size:
                b -= _blocks(size)
                n -= 1
        return max(b, 0), max(n, 0)


def _blocks(size: int) -> int:
    return (size + 4095) // 4096 * 4096


def snapshot(top: Path, owner: int | None = None) -> Snapshot:
    """The tree under top; chowns every entry to owner (when given) on the way.

    The chown gives the kernel's uid the files the engine copied in (as root) and the files an
    earlier kernel of the thread (another uid) made.
    """
    snap = Snapshot()
    if owner is not None:
        try:
            fd = os.open(top, _DIR_FLAGS)
        except FileNotFoundError:
            return snap
        try:
            if os.fstat(fd).st_uid != owner:
                os.chown(fd, owner, owner)
        finally:
            os.close(fd)
    for dirfd, name, st, rel in walk(top):
        assert st is not None
        snap.entries += 1
        snap.disk_bytes += st.st_blocks * 512
        if owner is not None and st.st_uid != owner:
            try:
                os.chown(name, owner, owner, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                pass
        if stat.S_ISREG(st.st_mode):
            if len(snap.files) < MAX_ENTRIES:
                snap.files[rel] = (st.st_size, st.st_mtime_ns)
            else:
                snap.complete = False
    return snap


def usage(top: Path) -> tuple[int, int]:
    """(disk bytes, entries) under top: what the quota counts."""
    b = n = 0
    for _, _, st, _ in walk(top):
        assert st is not None
        b += st.st_blocks * 512
        n += 1
    return b, n


def changed(before: Snapshot | dict[str, tuple[int, int]],
            after: Snapshot | dict[str, tuple[int, int]]) -> list[str]:
    """Files that are new or modified (size or mtime) between two snapshots."""
    b = before.files if isinstance(before, Snapshot) else before
    a = after.files if isinstance(after, Snapshot) else after
    return sorted(name for name, sig in a.items() if b.get(name) != sig)


def unlink(top: Path, name: str) -> int:
    """Remove top/name (a file) without following symlinks; the disk bytes it held."""
    parent = os.path.dirname(name)
    fd = _open_beneath(top, parent, os.O_RDONLY | os.O_DIRECTORY) if parent else \
        os.open(top, _DIR_FLAGS)
    try:
        st = os.stat(os.path.basename(name), dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            return 0
        os.unlink(os.path.basename(name), dir_fd=fd)
        return st.st_blocks * 512
    except FileNotFoundError:
        return 0
    finally:
        os.close(fd)


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


def open_file(top: Path, name: str) -> BinaryIO:
    """top/name opened for reading (a regular file, reached without following symlinks)."""
    fd = _open_beneath(top, name, os.O_RDONLY | os.O_NONBLOCK)
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        f.close()
        raise ValueError(f"not a regular file: {name!r}")
    return f


def read_file(top: Path, name: str) -> bytes:
    with open_file(top, name) as f:
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
    """Delete path and everything under it: no recursion (any depth), no symlink followed."""
    try:
        for dirfd, name, st, _ in walk(path, post_dirs=True):
            try:
                if st is None:
                    os.rmdir(name, dir_fd=dirfd)
                elif not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=dirfd)
            except FileNotFoundError:
                pass
            except OSError:
                pass  # not empty (it changed meanwhile): the final rmtree below tries again
        os.rmdir(path)
    except OSError:
        pass  # gone already, or something we could not remove (nothing recursive here)
