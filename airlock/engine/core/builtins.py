"""The built-in tools a turn runs itself: file_search over vector stores, code_interpreter in a
jailed kernel. What the model asked for goes in; what it reads back (and what the adapter
shows) comes out. Where results are kept and how they are shown is the adapter's (core.sink).
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from airlock.engine.core.items import BuiltinCall, CodeInterpreter, FileSearch, InputFile, Source
from airlock.engine.core.offering import FILE_SEARCH_DESCRIPTION, QUERY_DESCRIPTION
from airlock.engine.core.sink import CodeDone, Hit, Produced, SearchDone, Sink
from airlock.engine.ingestion import Ingestor
from airlock.engine.sandbox import Execution, Sandbox, SandboxUnavailable
from airlock.engine.search import Search
from airlock.store import Store, kernel_homes

log = logging.getLogger("airlock.engine")

# --- file_search ----------------------------------------------------------------------------------

# Source text shown to the model takes at most this share of its context.
SOURCES_SHARE = 0.5
CITE_HINT = ("Answer from these sources. After a sentence that uses a source, write its "
             "marker exactly, for example {marker}.")
NO_MATCH = "No passages in the files matched the search."

# --- code_interpreter -----------------------------------------------------------------------------

MNT = "/mnt/data/"
# What the model reads back of the logs: a small model's context is short.
LOGS_FOR_MODEL = 2000
# ...and of everything else (notes on images and files): the whole of what it reads back stays
# under LOGS_FOR_MODEL + NOTES_FOR_MODEL characters, whatever the code did.
NOTES_FOR_MODEL = 2500
# A file name placed in /mnt/data as is: printable, no path separators, not "." or "..", and
# short enough for any file system; others are placed under the file's id.
_PLAIN_NAME = re.compile(r"[^\x00-\x1f\x7f/\\]{1,200}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
RESET_NOTE = ("[The Python session was restarted since the last call (idle too long or "
              "evicted): earlier variables are gone; files in /mnt/data remain.]")
MOVED_NOTE = ("[The Python session was restarted since the last call (the server that held "
              "it stopped): earlier variables and files written to /mnt/data are gone; the "
              "input files are in /mnt/data again.]")


class ToolFailed(Exception):
    """The tool could not run at all (no sandbox): the turn fails with this message."""


@dataclass
class Toolbox:
    """What built-in rounds run on: the search index, ingestion (to wait for), the sandbox."""

    search: Search
    ingestor: Ingestor
    sandbox: Sandbox
    files_dir: Path  # where uploaded files' bytes are
    search_wait_s: float = 60.0
    replica: str = ""  # this replica's name: the kernel home it records (store.kernel_homes)

    def embed(self, texts: list[str]) -> np.ndarray:
        """The embedding model (loaded on first use): the turn's decisions read it."""
        return self.search.embedder.embed(texts)


class Builtins:
    def __init__(self, store: Store, box: Toolbox):
        self.store, self.box = store, box

    # --- file_search ------------------------------------------------------------------------------

    def file_search(self, sink: Sink, call_id: str, tool: FileSearch, arguments: str,
                    user_text: str, n: int, max_chars: int) -> BuiltinCall:
        """Searches the model's query and the user's latest message, fused: a small model's
        query can be worse than the question itself, and both rankings together cannot bury
        the right source. `n`: how many searches the exchange made before."""
        box = self.box
        query = query_of(arguments, user_text)
        queries = list(dict.fromkeys(q for q in (query, user_text.strip()) if q))
        stores = list(tool.vector_store_ids)
        results = []
        if stores:
            if not box.ingestor.wait_ready(stores, box.search_wait_s):
                log.warning("searched %s before ingestion finished", stores)
            results = box.search.search(stores, queries if len(queries) > 1 else query,
                                        k=tool.max_num_results, threshold=tool.score_threshold,
                                        flt=tool.filters)
        sources = [Source(n, i, r.file_id, r.filename, r.text, r.score, r.attributes or {})
                   for i, r in enumerate(results)]
        call = BuiltinCall(call_id=call_id, name="file_search", arguments=arguments, query=query,
                           output=sources_text(sources, max_chars), sources=sources)
        hits = [Hit(r.file_id, r.filename, r.score, r.text, r.attributes or {}) for r in results]
        sink.builtin_finished(call, SearchDone(queries, hits, tool.score_threshold))
        return call

    # --- code_interpreter -------------------------------------------------------------------------

    def code_interpreter(self, sink: Sink, call_id: str, tool: CodeInterpreter,
                         arguments: str) -> BuiltinCall:
        """Runs the program in the kernel's jailed session; raises ToolFailed when no sandbox
        can run it."""
        sandbox, kernel = self.box.sandbox, tool.kernel
        code = code_of(arguments)
        sink.code_started(call_id, code)
        if sandbox.refusal:
            sink.builtin_failed(call_id, "code_interpreter", code)
            raise ToolFailed(sandbox.refusal)
        moved = False
        if self.store.is_shared:
            # Replicas: this replica becomes the kernel's home. If another held it, that
            # replica is gone (live homes keep their kernels' work): the session starts afresh.
            with self.store.begin() as conn:
                moved = kernel_homes.move_in(conn, kernel, self.box.replica) is not None
        try:
            self._place(kernel, tool.files)
            ex = sandbox.pool.execute(kernel, code)
        except SandboxUnavailable as exc:
            sink.builtin_failed(call_id, "code_interpreter", code)
            raise ToolFailed(str(exc)) from exc
        produced = [Produced(name, _opener(sandbox, kernel, name)) for name in ex.files]
        images, files = sink.keep_outputs(call_id, ex.images, produced)
        call = BuiltinCall(call_id=call_id, name="code_interpreter",
                           arguments=json.dumps({"code": code}),
                           output=for_model(ex, images, files, moved), images=images, files=files)
        sink.builtin_finished(call, CodeDone(code, ex.logs, images))
        return call

    def kernel_has(self, kernel: str, name: str) -> bool:
        """Whether the kernel's /mnt/data holds a regular file `name`, reached as its input and
        output files are (inside /mnt/data, not following symlinks the code planted)."""
        try:
            self.box.sandbox.pool.open_file(kernel, name).close()
        except (OSError, ValueError):
            return False
        return True

    def _place(self, kernel: str, inputs: tuple[InputFile, ...]) -> None:
        sandbox = self.box.sandbox
        placed = sandbox.placed.setdefault(kernel, {})
        workdir = sandbox.workdir(kernel)
        for f in inputs:
            if placed.get(f.name) == f.file_id and (workdir / f.name).exists():
                continue  # already there; the code may have changed it since, which it may
            sandbox.pool.write_file(kernel, f.name, (self.box.files_dir / f.path).read_bytes())
            placed[f.name] = f.file_id


def _opener(sandbox: Sandbox, kernel: str, name: str) -> Callable[[], BinaryIO]:
    return lambda: sandbox.pool.open_file(kernel, name)


def query_of(arguments: str, fallback: str) -> str:
    """The model's query, or the user's last message when the model wrote none (or copied the
    parameter's description: Qwen2.5-Coder-0.5B did for 38 of 70 questions of
    scripts/eval/retrieval_mixed.py)."""
    try:
        query = json.loads(arguments).get("query")
    except (ValueError, AttributeError):
        query = None
    if not isinstance(query, str) or _folded(query) in _COPIED:
        return fallback
    return query.strip() or fallback


def _folded(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .")


_COPIED = {_folded(FILE_SEARCH_DESCRIPTION), _folded(QUERY_DESCRIPTION)}


def cite_hint(sources: list[Source]) -> str:
    """How to cite, for the turn's instructions: in the tool's output a model would parrot it."""
    return CITE_HINT.format(marker=sources[0].marker)


def sources_text(sources: list[Source], max_chars: int) -> str:
    """Numbered sources for the model, best first, as many as fit: data only."""
    if not sources:
        return NO_MATCH
    lines: list[str] = []
    used = 0
    for source in sources:
        room = max_chars - used
        if room < 200:
            break
        text = " ".join(source.text.split())[: room - len(source.marker) - 2]
        lines.append(f"{source.marker} {text}")
        used += len(lines[-1]) + 1
    return "\n".join(lines)


def code_of(arguments: str) -> str:
    """The model's code: the "code" of its JSON arguments (or the raw text if it wrote none)."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    code = value.get("code") if isinstance(value, dict) else None
    return code if isinstance(code, str) else arguments


def sandbox_name(file_id: str, filename: str | None) -> str:
    """The name a file gets in /mnt/data: its filename's last component when that is a plain
    name, else its id (with the filename's extension, when it has a plain one): a name like
    `..`, `.`, one with a NUL or a newline, or one too long for the disk never fails a run."""
    name = posixpath.basename((filename or "").replace("\\", "/"))
    if _PLAIN_NAME.fullmatch(name) and name not in (".", "..") and name.strip():
        return name
    ext = _EXTENSION.search((filename or "").replace("\x00", ""))
    return file_id + (ext.group(0) if ext else "")


def input_files(rows: list[tuple[str, str | None, str]]) -> tuple[InputFile, ...]:
    """(file_id, filename, blob path) of the files code_interpreter gets, in order, as they
    appear in /mnt/data: two files of one name both stay reachable."""
    out: list[InputFile] = []
    taken: set[str] = set()
    for file_id, filename, path in rows:
        name = sandbox_name(file_id, filename)
        if name in taken:
            name = f"{file_id}-{name}"
        taken.add(name)
        out.append(InputFile(file_id, name, path))
    return tuple(out)


def for_model(ex: Execution, images: list[str], produced: dict[str, str],
              moved: bool = False) -> str:
    parts = []
    if moved:
        parts.append(MOVED_NOTE)
    elif ex.state_reset:
        parts.append(RESET_NOTE)
    logs = ex.logs if len(ex.logs) <= LOGS_FOR_MODEL else (
        ex.logs[: LOGS_FOR_MODEL // 2] + "\n[...]\n" + ex.logs[-LOGS_FOR_MODEL // 2:])
    parts.append(logs.strip() or "(no output)")
    notes = []
    if ex.timed_out:
        notes.append("[The code was stopped: it ran past the time limit.]")
    if images:
        notes.append("[A chart was produced and is shown to the user.]" if len(images) == 1 else
                     f"[{len(images)} charts were produced and are shown to the user.]")
    room = NOTES_FOR_MODEL - sum(len(n) + 1 for n in notes)
    paths = list(produced)
    for i, path in enumerate(paths):
        note = f"[File saved: {path}. Link it as sandbox:{path}]"
        if len(note) + 1 > room - 80:  # keeps room for the line below
            notes.append(f"[{len(paths) - i} more files were saved in /mnt/data.]")
            break
        notes.append(note)
        room -= len(note) + 1
    return "\n".join(parts + notes)
