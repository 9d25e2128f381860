"""Background ingestion: parse, chunk, embed and index vector-store files, a few at a time.

The queue is the store: a file waits as `in_progress` with no claim. Workers claim one with a
conditional UPDATE, so several workers (or processes) never take the same file; a restart
clears claims and the files are ingested again from the start (indexing a file replaces
whatever a dead worker left of it).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from airlock.engine.search import Search
from airlock.store import Store, crud
from airlock.store import vector_stores as vs_queries
from airlock.store.tables import File, VectorStoreFile
from airlock.tools.file_search import FileRejected, ParseCancelled, chunk

log = logging.getLogger("airlock.file_search")
IDLE_CHECK_S = 0.5
# An idle worker's safety-net look at the queue when replicas share the store: peers' queued
# files wake it by NOTIFY, as does the listener when it (re)connects (engine.cluster), so this
# only bounds how long a lost wake-up could delay a file. Each look is a transaction.
SHARED_IDLE_CHECK_S = 30.0
# While embedding: how often the worker checks the file is still wanted, and logs progress.
CHECK_EVERY_S = 0.5
LOG_EVERY_S = 5.0


class Ingestor:
    """Workers run `loop` on threads made by `engine.background`."""

    def __init__(self, store: Store, files_dir: Path, search: Search, stopping: threading.Event,
                 lease_s: float = 0.0):
        self.store, self.files_dir, self.search = store, files_dir, search
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stopping = stopping
        self.lease_s = lease_s
        # Set by engine.cluster when replicas share the store: they hear of queued files too.
        self.wake_peers: Callable[[], None] | None = None
        self._held: set[str] = set()
        self._held_lock = threading.Lock()

    def recover(self) -> None:
        """At start-up: claims of a dead process are cleared; those files are ingested again.
        A shared store is left alone: a claim of a dead replica is cleared when its lease lapses
        (`requeue_lapsed`)."""
        if self.store.is_shared:
            return
        t = crud.table_of(VectorStoreFile)
        with self.store.begin() as conn:
            conn.execute(update(t).where(t.c.status == "in_progress").values(claim=None))

    def wake(self, *, tell_peers: bool = True) -> None:
        self._wake.set()
        if tell_peers and self.wake_peers is not None:
            self.wake_peers()

    def renew_leases(self) -> None:
        """This replica still works on the files it claimed: their leases run on."""
        with self._held_lock:
            tokens = list(self._held)
        if not tokens:
            return
        t = crud.table_of(VectorStoreFile)
        with self.store.begin() as conn:
            conn.execute(update(t).where(t.c.claim.in_(tokens), t.c.status == "in_progress")
                         .values(lease_until=time.time() + self.lease_s))

    def requeue_lapsed(self) -> int:
        """Files whose claiming replica stopped renewing (it died) wait again for any worker;
        indexing a file again replaces what the dead worker left of it."""
        t = crud.table_of(VectorStoreFile)
        with self.store.begin() as conn:
            n = int(conn.execute(update(t).where(
                t.c.status == "in_progress", t.c.claim.is_not(None),
                t.c.lease_until < time.time()).values(claim=None, lease_until=None)).rowcount)
        if n:
            log.warning("queued %d file(s) again: the replica ingesting them stopped", n)
            self.wake()
        return n

    def wait_ready(self, store_ids: list[str], timeout: float) -> bool:
        """Blocks until no file of these stores is still being ingested (runs search only
        finished stores, as the real API does); False if `timeout` ran out first."""
        deadline = time.monotonic() + timeout
        while True:
            with self.store.read_conn() as conn:
                if not vs_queries.pending_files(conn, store_ids):
                    return True
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping.is_set():
                return False
            with self._done:
                self._done.wait(min(left, IDLE_CHECK_S))

    # --- the workers ---------------------------------------------------------------------------

    def loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._claim()
            except Exception:
                log.exception("claiming a file to ingest failed")
                job = None
            if job is None:
                self._wake.wait(SHARED_IDLE_CHECK_S if self.store.is_shared else IDLE_CHECK_S)
                self._wake.clear()
                continue
            try:
                self._ingest(*job)
            finally:
                with self._held_lock:
                    self._held.discard(job[2])
                with self._done:
                    self._done.notify_all()

    def _claim(self) -> tuple[str, str, str, dict[str, Any]] | None:
        t = crud.table_of(VectorStoreFile)
        token = uuid.uuid4().hex
        with self.store.begin() as conn:
            # SKIP LOCKED: replicas claiming at once take different files (PostgreSQL).
            row = conn.execute(select(t.c.vector_store_id, t.c.id, t.c.chunking_strategy).where(
                t.c.status == "in_progress", t.c.claim.is_(None)).order_by(t.c.seq).limit(1)
                .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            claimed = conn.execute(update(t).where(
                t.c.vector_store_id == row.vector_store_id, t.c.id == row.id,
                t.c.status == "in_progress", t.c.claim.is_(None)).values(
                    claim=token, lease_until=time.time() + self.lease_s)).rowcount
            if claimed:
                with self._held_lock:
                    self._held.add(token)
        return (row.vector_store_id, row.id, token, row.chunking_strategy) if claimed else None

    def _ingest(self, store_id: str, file_id: str, token: str, chunking: dict[str, Any]) -> None:
        started = time.monotonic()
        with self.store.read_conn() as conn:
            file = crud.find(conn, File, file_id)
        if file is None:
            self._finish(store_id, file_id, token, "failed", error=(
                "invalid_file", f"The file {file_id} no longer exists."))
            return
        try:
            # In a child process within the parse limits; a shutdown does not wait for it.
            text = self.search.parser.extract_text(self.files_dir / file.path, file.filename,
                                                   should_stop=self._stopping.is_set)
            static = chunking["static"]
            # Chunked keeps the word pieces, so overlapping chunks share embedded windows.
            doc = chunk(text, self.search.tokenizer, static["max_chunk_size_tokens"],
                        static["chunk_overlap_tokens"])
            log.info("ingesting %s (%s) into %s: %d characters, %d chunks", file_id,
                     file.filename, store_id, len(text), len(doc.ranges))
            if not doc.ranges:
                raise FileRejected("invalid_file", f"{file.filename} contains no text.")
            self.search.index.add_file(store_id, file_id, doc, on_progress=self._progress(
                store_id, file_id, token, file.filename))
        except (_Abandoned, ParseCancelled):
            log.info("stopped ingesting %s (%s): removed or cancelled", file_id, file.filename)
            self.search.drop_file([store_id], file_id)
            return
        except FileRejected as exc:
            log.info("vector store file %s (%s) failed: %s", file_id, file.filename, exc.message)
            self._finish(store_id, file_id, token, "failed", error=(exc.code, exc.message))
            return
        except Exception as exc:
            log.exception("ingesting %s into %s failed", file_id, store_id)
            self._finish(store_id, file_id, token, "failed", error=(
                "server_error", f"Indexing the file failed: {exc}"))
            return
        if self._finish(store_id, file_id, token, "completed", usage=len(text.encode())):
            log.info("indexed %s (%s) into %s in %.1f s", file_id, file.filename, store_id,
                     time.monotonic() - started)

    def _progress(self, store_id: str, file_id: str, token: str, filename: str
                  ) -> Callable[[int, int], None]:
        """Logs progress of big files, and stops the work when nobody wants the file anymore
        (a cancelled batch must not keep the worker busy for minutes)."""
        t = crud.table_of(VectorStoreFile)
        mine = ((t.c.vector_store_id == store_id) & (t.c.id == file_id) & (t.c.claim == token)
                & (t.c.status == "in_progress"))
        last_check = last_log = time.monotonic()

        def report(done: int, total: int) -> None:
            nonlocal last_check, last_log
            now = time.monotonic()
            if now - last_check >= CHECK_EVERY_S:
                last_check = now
                with self.store.read_conn() as conn:
                    if conn.execute(select(t.c.seq).where(mine)).first() is None:
                        raise _Abandoned
                if self._stopping.is_set():
                    raise _Abandoned
            if total > 50 and (now - last_log >= LOG_EVERY_S or done == total):
                last_log = now
                log.info("embedding %s: %d/%d chunks (%d%%)", filename, done, total,
                         100 * done // total)
        return report

    def _finish(self, store_id: str, file_id: str, token: str, status: str, *,
                usage: int = 0, error: tuple[str, str] | None = None) -> bool:
        t = crud.table_of(VectorStoreFile)
        mine = (t.c.vector_store_id == store_id) & (t.c.id == file_id) & (t.c.claim == token)
        values: dict[str, Any] = {"status": status, "usage_bytes": usage}
        if error:
            values["last_error"] = {"code": error[0], "message": error[1]}
        with self.store.begin() as conn:
            landed = conn.execute(update(t).where(mine, t.c.status == "in_progress")
                                  .values(**values)).rowcount
            now = conn.execute(select(t.c.status).where(
                t.c.vector_store_id == store_id, t.c.id == file_id)).scalar()
        if not landed and now != "completed":
            # Removed, cancelled or re-added while we worked: what we indexed must not stay.
            self.search.drop_file([store_id], file_id)
        if error and landed:
            self.search.drop_file([store_id], file_id)
        return bool(landed)


class _Abandoned(Exception):
    """The file was cancelled, removed or re-added while it was being embedded."""
