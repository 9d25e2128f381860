"""Background ingestion: parse, chunk, embed and index vector-store files, a few at a time.

The queue is the store: a file waits as `in_progress` with no claim. Workers claim one with a
conditional UPDATE, so several workers (or processes) never take the same file; a restart
clears claims and the files are ingested again from the start (indexing a file replaces
whatever a dead worker left of it). Statuses change only in engine/ingestion_state.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from airlock.engine import ingestion_state
from airlock.engine.ingestion_state import Claim, FileStatus
from airlock.engine.search import Search
from airlock.store import Store, crud
from airlock.store import vector_stores as vs_queries
from airlock.store.tables import File
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
        with self.store.begin() as conn:
            ingestion_state.clear_claims(conn)

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
        with self.store.begin() as conn:
            ingestion_state.renew(conn, tokens, self.lease_s)

    def requeue_lapsed(self) -> int:
        """Files whose claiming replica stopped renewing (it died) wait again for any worker;
        indexing a file again replaces what the dead worker left of it."""
        with self.store.begin() as conn:
            n = ingestion_state.requeue_lapsed(conn)
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
                worked = self.ingest_next()
            except Exception:
                log.exception("claiming a file to ingest failed")
                worked = False
            if not worked:
                self._wake.wait(SHARED_IDLE_CHECK_S if self.store.is_shared else IDLE_CHECK_S)
                self._wake.clear()

    def ingest_next(self) -> bool:
        """Claims the oldest waiting file and ingests it; False when none waits."""
        claim = self._claim()
        if claim is None:
            return False
        try:
            self._ingest(claim)
        finally:
            with self._held_lock:
                self._held.discard(claim.token)
            with self._done:
                self._done.notify_all()
        return True

    def _claim(self) -> Claim | None:
        with self.store.begin() as conn:
            claim = ingestion_state.claim_next(conn, self.lease_s)
            if claim is not None:
                with self._held_lock:
                    self._held.add(claim.token)
        return claim

    def _ingest(self, claim: Claim) -> None:
        started = time.monotonic()
        store_id, file_id = claim.store_id, claim.file_id
        with self.store.read_conn() as conn:
            file = crud.find(conn, File, file_id)
        if file is None:
            self._finish(claim, FileStatus.FAILED, error=(
                "invalid_file", f"The file {file_id} no longer exists."))
            return
        try:
            # In a child process within the parse limits; a shutdown does not wait for it.
            text = self.search.parser.extract_text(self.files_dir / file.path, file.filename,
                                                   should_stop=self._stopping.is_set)
            static = claim.chunking["static"]
            # Chunked keeps the word pieces, so overlapping chunks share embedded windows.
            doc = chunk(text, self.search.tokenizer, static["max_chunk_size_tokens"],
                        static["chunk_overlap_tokens"])
            log.info("ingesting %s (%s) into %s: %d characters, %d chunks", file_id,
                     file.filename, store_id, len(text), len(doc.ranges))
            if not doc.ranges:
                raise FileRejected("invalid_file", f"{file.filename} contains no text.")
            self.search.index.add_file(store_id, file_id, doc,
                                       on_progress=self._progress(claim, file.filename))
        except (_Abandoned, ParseCancelled):
            log.info("stopped ingesting %s (%s): removed or cancelled", file_id, file.filename)
            self.search.drop_file([store_id], file_id)
            return
        except FileRejected as exc:
            log.info("vector store file %s (%s) failed: %s", file_id, file.filename, exc.message)
            self._finish(claim, FileStatus.FAILED, error=(exc.code, exc.message))
            return
        except Exception as exc:
            log.exception("ingesting %s into %s failed", file_id, store_id)
            self._finish(claim, FileStatus.FAILED, error=(
                "server_error", f"Indexing the file failed: {exc}"))
            return
        if self._finish(claim, FileStatus.COMPLETED, usage=len(text.encode())):
            log.info("indexed %s (%s) into %s in %.1f s", file_id, file.filename, store_id,
                     time.monotonic() - started)

    def _progress(self, claim: Claim, filename: str) -> Callable[[int, int], None]:
        """Logs progress of big files, and stops the work when nobody wants the file anymore
        (a cancelled batch must not keep the worker busy for minutes)."""
        last_check = last_log = time.monotonic()

        def report(done: int, total: int) -> None:
            nonlocal last_check, last_log
            now = time.monotonic()
            if now - last_check >= CHECK_EVERY_S:
                last_check = now
                with self.store.read_conn() as conn:
                    if not ingestion_state.held(conn, claim):
                        raise _Abandoned
                if self._stopping.is_set():
                    raise _Abandoned
            if total > 50 and (now - last_log >= LOG_EVERY_S or done == total):
                last_log = now
                log.info("embedding %s: %d/%d chunks (%d%%)", filename, done, total,
                         100 * done // total)
        return report

    def _finish(self, claim: Claim, status: FileStatus, *, usage: int = 0,
                error: tuple[str, str] | None = None) -> bool:
        with self.store.begin() as conn:
            landed, now = ingestion_state.finish(conn, claim, status, usage=usage, error=error)
        if (not landed and now != FileStatus.COMPLETED) or (error and landed):
            # Removed, cancelled or re-added while we worked, or failed: what we indexed of
            # it must not stay.
            self.search.drop_file([claim.store_id], claim.file_id)
        return landed


class _Abandoned(Exception):
    """The file was cancelled, removed or re-added while it was being embedded."""
