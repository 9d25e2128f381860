"""Fixtures for the in-process unit tests: a migrated SQLite store with row builders, run
records for the engine's pure functions, and a model-free GBNF matcher from llama.cpp."""

from __future__ import annotations

import ctypes
import re
import shutil
import time
from pathlib import Path
from typing import Any

import llama_cpp
import pytest
from sqlalchemy import select

from airlock.engine import run_state
from airlock.engine.run_state import RunRecord
from airlock.models.sampling import Sampling
from airlock.service import runs as runs_service
from airlock.store import Store, crud
from airlock.store.ids import new_id
from airlock.store.records import AssistantRow
from airlock.store.tables import Assistant, Message, Run, RunStep, Thread

BACKEND = "scripted"


def run_row(thread_id: str, assistant_id: str, **overrides: Any) -> dict[str, Any]:
    """A run's columns as the Runs service builds them for a create with no fields (internal
    ones included), then `overrides`."""
    assistant: AssistantRow = {
        "id": assistant_id, "created_at": 0, "name": None, "description": None,
        "model": "scripted", "instructions": "Be brief.", "tools": [], "tool_resources": None,
        "metadata": {}, "temperature": None, "top_p": None, "response_format": "auto",
        "reasoning_effort": None}
    row: dict[str, Any] = {**runs_service._columns(
        thread_id, assistant, {}, None, 600, new_id("run"), Sampling(), BACKEND)}
    row.update(status="queued", queued_ns=time.time_ns())
    row.update(overrides)
    return row


S = run_state.RunStatus
# How the state machine takes a new (queued) run to each status.
PATHS: dict[run_state.RunStatus, list[run_state.RunStatus]] = {
    S.QUEUED: [], S.IN_PROGRESS: [S.IN_PROGRESS],
    S.REQUIRES_ACTION: [S.IN_PROGRESS, S.REQUIRES_ACTION], S.CANCELLING: [S.CANCELLING],
    S.CANCELLED: [S.CANCELLING, S.CANCELLED], S.COMPLETED: [S.IN_PROGRESS, S.COMPLETED],
    S.INCOMPLETE: [S.IN_PROGRESS, S.INCOMPLETE], S.FAILED: [S.IN_PROGRESS, S.FAILED],
    S.EXPIRED: [S.EXPIRED],
}


class Db:
    """A thread and an assistant in a fresh store, and builders for runs, messages and steps
    attached to them. Each call is one write transaction, as the engine's are."""

    def __init__(self, store: Store):
        self.store = store
        now = crud.now()
        self.assistant_id, self.thread_id = new_id("assistant"), new_id("thread")
        with store.begin() as conn:
            crud.add(conn, Assistant, {
                "id": self.assistant_id, "created_at": now, "name": None, "description": None,
                "model": "scripted", "instructions": "Be brief.", "tools": [],
                "tool_resources": None, "metadata": {}, "temperature": None, "top_p": None,
                "response_format": None, "reasoning_effort": None})
            crud.add(conn, Thread, {"id": self.thread_id, "created_at": now,
                                    "tool_resources": None, "metadata": {}})

    def thread(self) -> str:
        thread_id = new_id("thread")
        with self.store.begin() as conn:
            crud.add(conn, Thread, {"id": thread_id, "created_at": crud.now(),
                                    "tool_resources": None, "metadata": {}})
        return thread_id

    def run(self, status: str = "queued", thread_id: str | None = None, **fields: Any) -> str:
        """A run created by the state machine and moved by it to `status`."""
        row = run_row(thread_id or self.thread_id, self.assistant_id, **fields)
        row.pop("status")
        required = row.pop("required_action", None)
        with self.store.begin() as conn:
            run_state.create(conn, row)
            for step in PATHS[run_state.RunStatus(status)]:
                extra = {"required_action": required} if step is S.REQUIRES_ACTION else {}
                assert run_state._move(conn, row["id"], step, **extra) is not None, step
            if required is not None and status != S.REQUIRES_ACTION:
                crud.change(conn, Run, row["id"], {"required_action": required})
        return row["id"]

    def record(self, run_id: str) -> RunRecord:
        with self.store.read_conn() as conn:
            return run_state.load(conn, run_id)

    def row(self, run_id: str) -> dict[str, Any]:
        """The stored run, internal columns included."""
        return self.record(run_id).row

    def message(self, run_id: str, status: str = "in_progress") -> str:
        message_id = new_id("message")
        with self.store.begin() as conn:
            crud.add(conn, Message, {
                "id": message_id, "thread_id": self.thread_of(conn, run_id),
                "created_at": crud.now(), "role": "assistant",
                "content": [{"type": "text", "text": {"value": "Partial", "annotations": []}}],
                "status": status, "incomplete_details": None, "completed_at": None,
                "incomplete_at": None, "assistant_id": self.assistant_id, "run_id": run_id,
                "attachments": [], "metadata": {}})
        return message_id

    def step(self, run_id: str, details: dict[str, Any] | None = None,
             status: str = "in_progress") -> str:
        step_id = new_id("step")
        details = details or {"type": "message_creation",
                              "message_creation": {"message_id": "msg_x"}}
        with self.store.begin() as conn:
            crud.add(conn, RunStep, {
                "id": step_id, "run_id": run_id, "thread_id": self.thread_of(conn, run_id),
                "assistant_id": self.assistant_id, "created_at": crud.now(),
                "type": details["type"], "status": status, "step_details": details,
                "last_error": None, "expired_at": None, "cancelled_at": None, "failed_at": None,
                "completed_at": None, "metadata": {}, "usage": None})
        return step_id

    def get(self, model: Any, object_id: str) -> dict[str, Any]:
        with self.store.read_conn() as conn:
            return crud.to_object(model, crud.find(conn, model, object_id))

    @staticmethod
    def thread_of(conn: Any, run_id: str) -> str:
        t = crud.table_of(Run)
        return conn.execute(select(t.c.thread_id).where(t.c.id == run_id)).scalar_one()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated to the newest schema, once; each test gets a copy."""
    folder = tmp_path_factory.mktemp("template")
    template = Store(f"sqlite:///{folder / 'db.sqlite3'}", folder / "files")
    template.migrate()
    template.close()  # the last connection closing folds the WAL into the file
    return folder / "db.sqlite3"


@pytest.fixture
def store(tmp_path: Path, migrated_db: Path):
    shutil.copyfile(migrated_db, tmp_path / "db.sqlite3")
    s = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "files")
    s.migrate()  # already at head: checks the copy, changes nothing
    yield s
    s.close()


@pytest.fixture
def db(store: Store) -> Db:
    return Db(store)


@pytest.fixture
def make_record():
    """A RunRecord from a run row with the given overrides (no database)."""
    def make(**overrides: Any) -> RunRecord:
        return RunRecord.from_row(run_row("thread_x", "asst_x", **overrides))
    return make


# --- a model-free GBNF matcher --------------------------------------------------------------
# llama-cpp-python's LlamaGrammar.from_string only stores the text (the grammar is parsed when a
# sampler is built from a model's vocab). libllama exports its grammar parser and per-character
# matcher, which need no vocab: parse with llama_grammar_init_impl, feed code points with
# llama_grammar_accept, and the text is in the language when an empty stack (a finished parse)
# remains.


class GbnfMatcher:
    def __init__(self) -> None:
        lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libllama.so"))
        self._init = lib._Z23llama_grammar_init_implPK11llama_vocabPKcS3_bPS3_mPKim
        self._init.restype = ctypes.c_void_p
        self._init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool,
                               ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                               ctypes.c_size_t]
        self._accept = lib._Z20llama_grammar_acceptP13llama_grammarj
        self._accept.restype = None
        self._accept.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        self._stacks = lib._Z24llama_grammar_get_stacksP13llama_grammar
        self._stacks.restype = ctypes.c_void_p
        self._stacks.argtypes = [ctypes.c_void_p]
        self._free = lib._Z23llama_grammar_free_implP13llama_grammar
        self._free.restype = None
        self._free.argtypes = [ctypes.c_void_p]

    def _parse(self, grammar: str) -> int | None:
        # What would take the test process down rather than fail a test: llama.cpp's parser
        # allocates without bound on x{m,n} with m > n, and overflows its stack on grammars
        # nested hundreds of thousands deep.
        for lo, hi in re.findall(r"\{(\d+),(\d+)\}", grammar):
            if int(lo) > int(hi):
                raise ValueError(f"repetition {{{lo},{hi}}} would exhaust memory in llama.cpp")
        if len(grammar) > 1_000_000:
            raise ValueError(f"a grammar of {len(grammar)} characters may crash llama.cpp")
        return self._init(None, grammar.encode(), b"root", False, None, 0, None, 0)

    def parses(self, grammar: str) -> bool:
        g = self._parse(grammar)
        if g:
            self._free(g)
        return bool(g)

    def matches(self, grammar: str, text: str) -> bool:
        """Whether `text` is a complete sentence of `grammar` (whose start rule is root)."""
        g = self._parse(grammar)
        if not g:
            raise ValueError("llama.cpp does not parse this grammar:\n" + grammar)
        try:
            for ch in text:
                self._accept(g, ord(ch))
                if not self._stack_sizes(g):
                    return False
            return 0 in self._stack_sizes(g)
        finally:
            self._free(g)

    def _stack_sizes(self, g: int) -> list[int]:
        # std::vector<std::vector<const llama_grammar_element *>>: each vector is three pointers.
        begin, end, _ = (ctypes.c_void_p * 3).from_address(self._stacks(g))
        sizes = []
        for addr in range(begin or 0, end or 0, 3 * ctypes.sizeof(ctypes.c_void_p)):
            b, e, _ = (ctypes.c_void_p * 3).from_address(addr)
            sizes.append((e or 0) - (b or 0))
        return sizes


@pytest.fixture(scope="session")
def gbnf() -> GbnfMatcher:
    return GbnfMatcher()
