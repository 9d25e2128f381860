"""The orchestrators in process, on SQLite with the scripted model: the Runs service with the
scheduler's worker, a restart's recovery, and the ingestion worker over the ingestion state
machine (with a stand-in for the parser and the index: their own tests are elsewhere)."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airlock.engine import ingestion_state, run_state
from airlock.engine.ingestion import Ingestor
from airlock.engine.ingestion_state import FileStatus
from airlock.models.registry import Registry
from airlock.service import Services, vector_stores
from airlock.settings import Settings
from airlock.store import Store, blobs, crud, files
from airlock.store.ids import new_id
from airlock.store.tables import VectorStoreFile, VectorStoreFileBatch
from airlock.tools.file_search import FileRejected

DEADLINE_S = 60.0


def services(data_dir: Path, **settings: Any) -> Services:
    cfg = Settings(data_dir=data_dir, model="scripted", code_pool_size=0, log_level="warning",
                   **settings)
    return Services(cfg, Registry.load("scripted", None))


def until(check: Callable[[], Any]) -> Any:
    """Polls `check` until it returns something truthy, within DEADLINE_S."""
    end = time.monotonic() + DEADLINE_S
    while not (found := check()):
        assert time.monotonic() < end, "not within the deadline"
        time.sleep(0.02)  # poll interval, bounded by the deadline above
    return found


def ended(svc: Services, thread_id: str, run_id: str) -> dict[str, Any] | None:
    run = asyncio.run(svc.runs.retrieve(thread_id, run_id))
    return run if run["status"] in run_state.TERMINAL else None


def test_a_run_is_queued_then_claimed_and_answered_by_the_worker(tmp_path):
    svc = services(tmp_path)
    svc.start()
    try:
        asyncio.run(svc.scripted_replies.push([{"text": "Hello back."}], None))
        assistant = asyncio.run(svc.assistants.create({"model": "scripted"}))
        thread = asyncio.run(svc.threads.create(
            {"messages": [{"role": "user", "content": "Hello"}]}))
        run, feed = asyncio.run(svc.runs.create(thread["id"], {"assistant_id": assistant["id"]}))
        assert run["status"] == "queued" and feed is None
        done = until(lambda: ended(svc, thread["id"], run["id"]))
        assert done["status"] == "completed" and done["usage"]["completion_tokens"] > 0
        page, _ = asyncio.run(svc.messages.page(thread["id"], _params(), None))
        assert page[0]["role"] == "assistant"
        assert page[0]["content"][0]["text"]["value"] == "Hello back."
    finally:
        svc.close()


def test_cancel_of_a_run_no_worker_holds_ends_it_at_once(tmp_path):
    svc = services(tmp_path, workers=False)
    svc.start()
    try:
        assistant = asyncio.run(svc.assistants.create({"model": "scripted"}))
        thread = asyncio.run(svc.threads.create({}))
        run, _ = asyncio.run(svc.runs.create(thread["id"], {"assistant_id": assistant["id"]}))
        cancelling = asyncio.run(svc.runs.cancel(thread["id"], run["id"]))
        assert cancelling["status"] == "cancelling"
        assert ended(svc, thread["id"], run["id"])["status"] == "cancelled"
    finally:
        svc.close()


def test_a_restart_ends_the_runs_a_dead_process_was_working_on(tmp_path):
    first = services(tmp_path, workers=False)
    assistant = asyncio.run(first.assistants.create({"model": "scripted"}))
    thread = asyncio.run(first.threads.create({}))
    run, _ = asyncio.run(first.runs.create(thread["id"], {"assistant_id": assistant["id"]}))
    with first.ctx.store.begin() as conn:  # a worker of this process took it, then it died
        assert run_state.claim_next(conn, "scripted").id == run["id"]
    first.ctx.store.close()
    second = services(tmp_path)
    second.start()
    try:
        failed = until(lambda: ended(second, thread["id"], run["id"]))
        assert failed["status"] == "failed"
        assert failed["last_error"]["message"] == run_state.RESTARTED
    finally:
        second.close()


# --- ingestion ----------------------------------------------------------------------------------


class FakeSearch:
    """The parser and index the ingestor drives: text in, chunks out, progress reported."""

    def __init__(self, on_add: Callable[[Callable[[int, int], None]], None] | None = None,
                 rejects: str | None = None):
        self.on_add, self.rejects = on_add, rejects
        self.added: list[str] = []
        self.dropped: list[str] = []
        self.parser = self

    def extract_text(self, path, filename, should_stop=None):
        if self.rejects:
            raise FileRejected("invalid_file", self.rejects)
        return Path(path).read_text()

    @property
    def tokenizer(self):
        from transformers import AutoTokenizer

        from airlock.tools.file_search.embedder import default_model_path

        return AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)

    @property
    def index(self):
        return self

    def add_file(self, store_id, file_id, doc, on_progress):
        if self.on_add:
            self.on_add(on_progress)
        self.added.append(file_id)

    def drop_file(self, store_ids, file_id):
        self.dropped.append(file_id)


@pytest.fixture
def queued(store: Store) -> Callable[..., tuple[str, str]]:
    """A text File queued into a new vector store by the ingestion state machine (with a
    batch of its own when `batch`)."""
    def make(text: str = "Llamas hum when they are content.", batch: bool = False):
        path, size = blobs.write_blob(store.files_dir, io.BytesIO(text.encode()))
        with store.begin() as conn:
            file = files.insert(conn, path=path, size=size, filename="notes.txt",
                                purpose="assistants", expires_after_seconds=None)
            vs = vector_stores.insert(conn, {"name": "notes"})
            batch_id = None
            if batch:
                batch_id = new_id("file_batch")
                crud.add(conn, VectorStoreFileBatch, {"id": batch_id, "vector_store_id": vs["id"],
                                                      "created_at": crud.now(), "cancelled": False})
            ingestion_state.queue(conn, vs["id"], file["id"], batch_id=batch_id, strategy={
                "type": "static", "static": {"max_chunk_size_tokens": 100,
                                             "chunk_overlap_tokens": 20}})
        return vs["id"], file["id"], batch_id
    return make


def row(store: Store, store_id: str, file_id: str) -> Any:
    with store.read_conn() as conn:
        return crud.find(conn, VectorStoreFile, file_id, vector_store_id=store_id)


def ingestor(store: Store, search: FakeSearch) -> Ingestor:
    return Ingestor(store, store.files_dir, search, threading.Event())  # type: ignore[arg-type]


def test_a_queued_file_is_claimed_indexed_and_completed(store, queued):
    vs, file_id, _ = queued()
    search = FakeSearch()
    worker = ingestor(store, search)
    assert worker.ingest_next() is True
    assert search.added == [file_id] and row(store, vs, file_id).status == FileStatus.COMPLETED
    assert worker.ingest_next() is False  # nothing waits any more


def test_a_file_its_batch_cancelled_while_embedding_ends_cancelled_and_leaves_the_index(
        store, queued, monkeypatch):
    from airlock.engine import ingestion

    monkeypatch.setattr(ingestion, "CHECK_EVERY_S", 0.0)
    vs, file_id, batch = queued(batch=True)

    def cancel_midway(progress):
        with store.begin() as conn:
            ingestion_state.cancel_batch(conn, batch)
        progress(1, 2)  # the worker looks again: the file is no longer its own

    search = FakeSearch(on_add=cancel_midway)
    ingestor(store, search).ingest_next()
    assert row(store, vs, file_id).status == FileStatus.CANCELLED
    assert search.added == [] and search.dropped == [file_id]


def test_a_file_the_parser_rejects_fails_saying_why(store, queued):
    vs, file_id, _ = queued()
    search = FakeSearch(rejects="notes.txt: the 4 s time limit was exceeded")
    ingestor(store, search).ingest_next()
    failed = row(store, vs, file_id)
    assert failed.status == FileStatus.FAILED
    assert failed.last_error == {"code": "invalid_file",
                              "message": "notes.txt: the 4 s time limit was exceeded"}


def test_only_the_state_module_writes_a_state_owned_status(store, queued):
    _, file_id, _ = queued()
    with store.begin() as conn, pytest.raises(ValueError, match="state module"):
        crud.change(conn, VectorStoreFile, file_id, {"status": "completed"})


def _params():
    from airlock.service import PageParams

    return PageParams(limit=20, order="desc")
