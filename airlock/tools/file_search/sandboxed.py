"""Bounded parsing: the server never parses an uploaded file itself.

A hostile document costs far more than its size: a 60 KB .docx holding 18 MB of `<w:p/>` needs
40 s and 650 MB of python-docx, and 180 MB of it (300 KB zipped) took a server to 4.3 GB that
glibc never handed back. So `BoundedParser.extract_text` works in two steps:

1. `precheck`, in the calling process and cheap (it reads a zip's central directory, or one
   stat): a .docx/.pptx may hold at most `max_zip_members` members, none expanding more than
   `max_compression_ratio` times once over 1 MB, at most `max_expanded_mb` of XML, and not
   more in all than the memory limit; a text or JSON file may be at most `max_text_mb`, an
   HTML file at most `max_expanded_mb`. The declared sizes can be trusted: zipfile never
   inflates a member past its declared size (it stops there and fails the CRC check).
2. the parse itself, in a child process with RLIMIT_AS (`memory_mb`), RLIMIT_CPU and a
   wall-clock timeout (`timeout_s`), and the text capped at `max_text_mb`. What the parse
   allocated dies with the child. A file over any limit fails `invalid_file` with a message
   naming the limit.

The children are forked from a zygote: one helper process per BoundedParser, started on first
use as `python -I` with the parsers imported, single-threaded, doing nothing but fork one child
per request and report how each ended (it also enforces the timeout, so it alone ever kills
or reaps a child: no pid can be reused under it).

Why a zygote, measured on a busy 2-core box for a 10-page PDF (whose 13 chunks then take
seconds to embed), median of 15: 0.033 s to parse in-process, 0.043 s through the zygote (which
starts in ~0.5 s, once); 0.20 s with a fresh `python` per file, 0.34 s with multiprocessing's
spawn, 0.06 s with its forkserver. The forkserver forks preloaded children too, but each one
re-runs the server's `__main__` (the `airlock` console script imports the whole server) unless
the forkserver imported it first, and then every child is a copy of the server's imports.
The zygote imports only the parsers: no numpy or torch (it skips this package's __init__),
~70 MB of address space, ~50 MB resident.
"""

from __future__ import annotations

import json
import math
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from .parsing import (
    MB,
    TEXT_EXTENSIONS,
    FileRejected,
    check_supported,
    extract_text,
    human_size,
)

# The compression-ratio check starts above this expanded size: small parts compress well too.
RATIO_FLOOR_BYTES = MB
# Beyond the timeout, how long the caller waits for the zygote's report before restarting it.
_GRACE_S = 10.0
_POLL_S = 0.25
_SEND_TIMEOUT_S = 5.0
_MARKUP_SUFFIXES = (".xml", ".rels", ".vml")
# Everything the children import, loaded once by the zygote.
_PRELOAD = ("ctypes", "pypdf", "pypdf.filters", "docx", "docx.table", "pptx", "pptx.enum.shapes",
            "bs4", "lxml.etree")


@dataclass(frozen=True)
class ParseLimits:
    """What parsing one file may cost (the AIRLOCK_PARSE_* settings)."""

    memory_mb: int = 1024          # address space of the child process
    timeout_s: float = 120.0       # wall clock of the parse, and its CPU time
    max_expanded_mb: int = 64      # XML in a .docx/.pptx, an HTML file, in all
    max_compression_ratio: int = 100  # of a zip member expanding to more than 1 MB
    max_zip_members: int = 10_000
    max_text_mb: int = 20          # the extracted text, as UTF-8

    @property
    def max_text_bytes(self) -> int:
        return self.max_text_mb * MB


class ParseCancelled(Exception):
    """`should_stop` said stop while the child was parsing."""


def _invalid(filename: str, problem: str) -> FileRejected:
    return FileRejected("invalid_file", f"{filename}: {problem}")


# -- pre-checks ----------------------------------------------------------------------------------


def precheck(source: Path | IO[bytes], filename: str, limits: ParseLimits) -> None:
    """Rejects, without parsing, a file that is over a limit by its declared sizes. A file
    that is broken (not a zip at all, say) passes: the parser reports it as before."""
    ext = Path(filename).suffix.lower()
    if ext in (".docx", ".pptx"):
        _check_zip(source, filename, limits)
    elif ext in TEXT_EXTENSIONS or ext == ".json":
        size = _size_of(source)
        if size > limits.max_text_bytes + 3:  # + a UTF-8 byte order mark
            raise _invalid(filename, f"is {human_size(size)} of text, over the "
                                     f"{limits.max_text_mb} MB limit for extracted text")
    elif ext in (".html", ".htm"):
        size = _size_of(source)
        if size > limits.max_expanded_mb * MB:
            raise _invalid(filename, f"is {human_size(size)} of HTML, over the "
                                     f"{limits.max_expanded_mb} MB limit for a document's markup")


def _size_of(source: Path | IO[bytes]) -> int:
    if isinstance(source, Path):
        return source.stat().st_size
    return source.seek(0, os.SEEK_END)


def _directory(fp: IO[bytes]) -> tuple[int, int] | None:
    """(entries, size) of a zip's central directory from its end record, or None when there
    is none. Read before zipfile, which would build an object per entry, however many."""
    end = fp.seek(0, os.SEEK_END)
    start = max(0, end - (22 + 0xFFFF))  # the end record, and the longest comment
    fp.seek(start)
    tail = fp.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries, size = struct.unpack("<10xHL6x", tail[at:at + 22])
    if entries == 0xFFFF or size == 0xFFFFFFFF:  # zip64: the real counts are elsewhere
        locator = tail[at - 20:at] if at >= 20 else b""
        if locator[:4] != b"PK\x06\x07":
            return None
        (offset,) = struct.unpack("<8xQ4x", locator)
        fp.seek(offset)
        record = fp.read(56)
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            return None
        entries, size = struct.unpack("<32xQQ8x", record)
    return entries, size


def _check_zip(source: Path | IO[bytes], filename: str, limits: ParseLimits) -> None:
    # A caller's file object stays open.
    with source.open("rb") if isinstance(source, Path) else nullcontext(source) as fp:
        directory = _directory(fp)
        if directory is None:
            return
        entries, size = directory
        # A central directory entry takes 46 bytes and a name: a bigger directory hides more
        # entries than its end record admits.
        if entries > limits.max_zip_members or size > limits.max_zip_members * 1024:
            shown = max(entries, size // 1024)
            raise _invalid(filename, f"holds {shown:,} zip members, over the "
                                     f"{limits.max_zip_members:,} limit")
        fp.seek(0)
        try:
            infos = zipfile.ZipFile(fp).infolist()
        except (zipfile.BadZipFile, ValueError, EOFError, OSError):
            return
    if len(infos) > limits.max_zip_members:
        raise _invalid(filename, f"holds {len(infos):,} zip members, over the "
                                 f"{limits.max_zip_members:,} limit")
    markup = [i for i in infos if i.filename.lower().endswith(_MARKUP_SUFFIXES)]
    biggest = max(markup, key=lambda i: i.file_size, default=None)
    markup_limit = limits.max_expanded_mb * MB
    if biggest is not None and biggest.file_size > markup_limit:
        raise _invalid(filename, f"{biggest.filename} would expand to "
                                 f"{human_size(biggest.file_size)}, over the "
                                 f"{limits.max_expanded_mb} MB limit for a document's markup")
    markup_total = sum(i.file_size for i in markup)
    if biggest is not None and markup_total > markup_limit:
        raise _invalid(filename, f"its XML parts would expand to {human_size(markup_total)}, "
                                 f"over the {limits.max_expanded_mb} MB limit for a document's "
                                 f"markup (the largest: {biggest.filename}, "
                                 f"{human_size(biggest.file_size)})")
    total = sum(i.file_size for i in infos)
    if total > limits.memory_mb * MB:
        raise _invalid(filename, f"its parts would expand to {human_size(total)}, more than "
                                 f"the {limits.memory_mb} MB memory limit for parsing")
    bombs = [i for i in infos if i.file_size > RATIO_FLOOR_BYTES
             and i.file_size > limits.max_compression_ratio * max(i.compress_size, 1)]
    if bombs:
        worst = max(bombs, key=lambda i: i.file_size / max(i.compress_size, 1))
        ratio = worst.file_size / max(worst.compress_size, 1)
        raise _invalid(filename, f"{worst.filename} would expand {ratio:,.0f} times "
                                 f"({human_size(worst.compress_size)} to "
                                 f"{human_size(worst.file_size)}), over the "
                                 f"{limits.max_compression_ratio}:1 compression ratio limit")


# -- the caller's side -----------------------------------------------------------------------------


class BoundedParser:
    """`extract_text` as in parsing, bounded by `limits`; thread-safe. close() stops the zygote
    (it also exits by itself when this process dies)."""

    def __init__(self, limits: ParseLimits | None = None) -> None:
        self.limits = limits or ParseLimits()
        self._lock = threading.Lock()
        self._zygote: subprocess.Popen[bytes] | None = None
        self._ctrl: socket.socket | None = None

    def extract_text(self, path: Path, filename: str,
                     should_stop: Callable[[], bool] | None = None) -> str:
        """Raises as parsing.extract_text does (FileRejected, FileNotFoundError), and
        ParseCancelled when `should_stop()` turns true meanwhile (checked every 0.25 s)."""
        check_supported(filename)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"stored file missing: {path}")
        precheck(path, filename, self.limits)
        request = json.dumps({"path": str(path.resolve()), "filename": filename,
                              "limits": asdict(self.limits)}).encode()
        frames = self._run(request, should_stop)
        return self._outcome(frames, filename)

    def close(self) -> None:
        with self._lock:
            self._stop_zygote()

    # -- the zygote

    def _run(self, request: bytes, should_stop: Callable[[], bool] | None) -> list[Frame]:
        mine, theirs = socket.socketpair()
        with mine:
            try:
                self._send(request, theirs)
            finally:
                theirs.close()
            return self._receive(mine, should_stop)

    def _send(self, request: bytes, reply_to: socket.socket) -> None:
        with self._lock:
            for attempt in (1, 2):
                ctrl = self._ctrl
                if ctrl is None or not self._alive():
                    ctrl = self._start_zygote()
                try:
                    socket.send_fds(ctrl, [request], [reply_to.fileno()])
                    return
                except OSError:
                    self._stop_zygote()  # it died (killed, crashed): the next try starts one
                    if attempt == 2:
                        raise

    def _alive(self) -> bool:
        return self._zygote is not None and self._zygote.poll() is None

    def _start_zygote(self) -> socket.socket:
        self._stop_zygote()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(_SEND_TIMEOUT_S)  # a zygote that stops reading counts as dead
        here = Path(__file__).resolve().parent
        root = str(here.parents[2])  # the directory holding the airlock package
        # -I: no PYTHON* variables, no user site, no current directory on sys.path. Only what
        # Python itself needs of the environment goes along (no API keys).
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR")}
        with theirs:
            self._zygote = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, root, str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                env=env, start_new_session=True)  # a Ctrl-C for the server is not for it
        self._ctrl = ours
        return ours

    def _stop_zygote(self) -> None:
        if self._ctrl is not None:
            self._ctrl.close()  # EOF: the zygote kills its children and exits
            self._ctrl = None
        if self._zygote is not None:
            try:
                self._zygote.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
                self._zygote.wait()
            self._zygote = None

    def _receive(self, sock: socket.socket, should_stop: Callable[[], bool] | None
                 ) -> list[Frame]:
        deadline = time.monotonic() + self.limits.timeout_s + _GRACE_S
        most = self.limits.max_text_bytes + MB  # the text and the frames' headers
        data = bytearray()
        while True:
            if should_stop is not None and should_stop():
                raise ParseCancelled
            left = deadline - time.monotonic()
            if left <= 0:
                # The zygote kills a child at the timeout and reports it; silence past that
                # means the zygote itself is stuck.
                with self._lock:
                    self._stop_zygote()
                raise RuntimeError("the parser process did not answer")
            sock.settimeout(min(left, _POLL_S))
            try:
                chunk = sock.recv(MB)
            except TimeoutError:
                continue
            if not chunk:
                return _frames(data)
            data += chunk
            if len(data) > most:
                raise RuntimeError("the parser process sent more than the text limit")

    def _outcome(self, frames: list[Frame], filename: str) -> str:
        limits = self.limits
        kinds = {header["kind"]: (header, payload) for header, payload in frames}
        if "text" in kinds:
            return str(kinds["text"][1], "utf-8")
        if "rejected" in kinds:
            header = kinds["rejected"][0]
            raise FileRejected(header["code"], header["message"])
        if "memory" in kinds:
            raise _invalid(filename, f"parsing needed more than the {limits.memory_mb} MB "
                                     "memory limit")
        if "missing" in kinds:
            raise FileNotFoundError(kinds["missing"][0]["message"])
        if "error" in kinds:
            raise RuntimeError(f"the parser failed: {kinds['error'][0]['message']}")
        if "exit" not in kinds:  # the zygote died: the next parse starts another
            raise RuntimeError("the parser process ended without a result")
        end = kinds["exit"][0]
        seconds = f"{limits.timeout_s:g} s"
        if end["timed_out"]:
            raise _invalid(filename, f"parsing took longer than the {seconds} time limit")
        # RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a second later.
        if end["signal"] in (signal.SIGXCPU, signal.SIGKILL) \
                and end["cpu_s"] >= math.ceil(limits.timeout_s) - 0.5:
            raise _invalid(filename, f"parsing used more than the {seconds} time limit in CPU "
                                     "time")
        if end["signal"]:
            name = signal.Signals(end["signal"]).name
            raise _invalid(filename, f"the parser crashed ({name}), maybe at the "
                                     f"{limits.memory_mb} MB memory limit")
        raise RuntimeError(f"the parser exited with status {end['code']} and no result")


# -- the wire between them: frames of a JSON header line and `size` bytes of payload ------------

Frame = tuple[dict[str, Any], memoryview]


def _frame(header: dict[str, Any], size: int = 0) -> bytes:
    """The header line of a frame; its `size` bytes of payload follow it."""
    return json.dumps({**header, "size": size}).encode() + b"\n"


def _frames(data: bytearray) -> list[Frame]:
    out: list[Frame] = []
    view = memoryview(data)  # payloads are views: the text is not copied again
    at = 0
    while at < len(data):
        end = data.find(b"\n", at)
        if end < 0:
            break  # a child cut short mid-header: what came before still counts
        header = json.loads(data[at:end])
        payload = view[end + 1:end + 1 + header["size"]]
        if len(payload) < header["size"]:
            break
        out.append((header, payload))
        at = end + 1 + header["size"]
    return out


# -- the zygote (runs in its own process) ----------------------------------------------------------

# Imports this module without running the package's __init__ (numpy, chromadb, torch later):
# the package is stood in for by an empty module with the right __path__.
_BOOT = """\
import sys, types
sys.path.insert(0, sys.argv[1])
import airlock.tools
pkg = types.ModuleType("airlock.tools.file_search")
pkg.__path__ = [airlock.tools.__path__[0] + "/file_search"]
sys.modules["airlock.tools.file_search"] = pkg
from airlock.tools.file_search.sandboxed import zygote_main
zygote_main(int(sys.argv[2]))
"""


@dataclass
class _Child:
    reply: socket.socket
    deadline: float
    timed_out: bool = False


def zygote_main(ctrl_fd: int) -> None:
    """Forks a child per request read from `ctrl_fd` (a SOCK_SEQPACKET socket: one JSON request
    and the socket to answer on per message); exits when the caller closes it."""
    import importlib
    import logging
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.disable(logging.CRITICAL)  # pypdf warns about every oddity of a broken PDF
    warnings.simplefilter("ignore")
    for module in _PRELOAD:
        importlib.import_module(module)
    ctrl = socket.socket(fileno=ctrl_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
    sel = selectors.DefaultSelector()
    sel.register(ctrl, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    children: dict[int, _Child] = {}

    while True:
        now = time.monotonic()
        waiting = [c.deadline for c in children.values() if not c.timed_out]
        for key, _ in sel.select(max(0.0, min(waiting) - now) if waiting else None):
            if key.fileobj is wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 4096):
                            break
                    except BlockingIOError:
                        break
                continue
            try:
                message, fds, _, _ = socket.recv_fds(ctrl, 1 << 16, 4)
            except OSError:
                message, fds = b"", []
            if not message:  # the caller is gone
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
                os._exit(0)
            if len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                continue
            reply = socket.socket(fileno=fds[0])
            request = json.loads(message)
            zygote = os.getpid()
            pid = os.fork()
            if pid == 0:
                _die_with(zygote)
                # Only the answer socket stays open: the others' EOF must not wait for us.
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sel.close()
                for fd in (ctrl.fileno(), wake_r, wake_w,
                           *(c.reply.fileno() for c in children.values())):
                    os.close(fd)
                _child(request, reply)
            deadline = time.monotonic() + float(request["limits"]["timeout_s"])
            children[pid] = _Child(reply, deadline)
        _reap(children)
        now = time.monotonic()
        for pid, child in children.items():
            if not child.timed_out and now >= child.deadline:
                os.kill(pid, signal.SIGKILL)
                child.timed_out = True


def _die_with(parent: int) -> None:
    """SIGKILL when the zygote dies (as the caller's EOF kills the children of a live one)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _reap(children: dict[int, _Child]) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        child = children.pop(pid, None)
        if child is None:
            continue
        end = {"kind": "exit", "timed_out": child.timed_out,
               "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
               "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
               "cpu_s": usage.ru_utime + usage.ru_stime}
        # Never block on a caller that stopped reading: it then sees no report, only EOF.
        child.reply.setblocking(False)
        try:
            child.reply.send(_frame(end))
        except OSError:
            pass
        child.reply.close()


def _child(request: dict[str, Any], reply: socket.socket) -> NoReturn:
    status = 1
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        limits = ParseLimits(**request["limits"])
        memory = limits.memory_mb * MB
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = math.ceil(limits.timeout_s)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        header, payload = _parse(request, limits)
        reply.sendall(header)
        reply.sendall(payload)
        status = 0
    finally:
        os._exit(status)


def _parse(request: dict[str, Any], limits: ParseLimits) -> tuple[bytes, bytes]:
    """(header, payload) of the one frame that answers the request."""
    try:
        text = extract_text(Path(request["path"]), request["filename"], limits.max_text_bytes,
                            limits.memory_mb * MB)
        data = text.encode()
        del text
        return _frame({"kind": "text"}, len(data)), data
    except FileRejected as e:
        return _frame({"kind": "rejected", "code": e.code, "message": e.message}), b""
    except MemoryError:
        pass  # answered below, once the traceback (and what its frames hold) is gone
    except FileNotFoundError as e:
        return _frame({"kind": "missing", "message": str(e)}), b""
    except BaseException as e:  # noqa: BLE001 - reported to the caller, who raises it
        return _frame({"kind": "error", "message": f"{type(e).__name__}: {e}"[:300]}), b""
    return _frame({"kind": "memory"}), b""
