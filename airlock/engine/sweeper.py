"""Time-based endings: runs left waiting past expires_at expire, expired files are deleted,
idle containers expire (their files go, their kernels stop).

Readers already treat an expired file as gone (`store.files.live`); deleting its row and bytes
happens here, off the request path.

The sweeper does not look at the runs every second: each sweep also reads the earliest
expires_at of the runs that may yet wait, and a run created later expires no earlier than
`expires_after` seconds from then, so the next sweep is due at the earlier of the two (at least
RUNS_EVERY_S, at most RUNS_AT_LEAST_EVERY_S from now). An idle server then sweeps a few times a
minute instead of every second, which matters on a shared PostgreSQL where every replica sweeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from airlock.engine import run_state
from airlock.engine.events import Hub
from airlock.store import Store, containers, files

log = logging.getLogger("airlock.engine")
RUNS_EVERY_S = 1.0
# A safety net: a replica configured with a shorter expiry than this one may create runs.
RUNS_AT_LEAST_EVERY_S = 30.0
FILES_EVERY_S = 30.0
ORPHAN_AGE_S = 3600.0


class Sweeper:
    """`expires_after`: how long after its creation a run expires (the settings'
    run_expires_after_s)."""

    def __init__(self, store: Store, hub: Hub, files_dir: Path, stopping: threading.Event,
                 expires_after: float = RUNS_EVERY_S):
        self.store, self.hub, self.files_dir, self.stopping = store, hub, files_dir, stopping
        self.expires_after = expires_after
        # An expired container's kernel stops (engine.background sets it: the sandbox's).
        self.on_container_expired: Callable[[str], None] = lambda _container_id: None

    def loop(self) -> None:
        next_runs = next_files = 0.0
        while not self.stopping.is_set():
            # The sweeper must outlive a bad moment of the database.
            try:
                if time.monotonic() >= next_runs:
                    next_runs = time.monotonic() + self.expire_runs()
                if time.monotonic() >= next_files:
                    self.purge_files()
                    next_files = time.monotonic() + FILES_EVERY_S
            except Exception:
                log.exception("sweep failed")
                next_runs = time.monotonic() + RUNS_EVERY_S
            self.stopping.wait(max(0.0, min(next_runs, next_files) - time.monotonic()))

    def expire_runs(self) -> float:
        """Expires the runs due; returns the seconds until the next sweep of runs is due."""
        # A run this sweep does not see was created after `began` less the second expires_at
        # is rounded to.
        began = time.time()
        with self.store.begin() as conn:
            expired = run_state.expire_due(conn)
            soonest = run_state.next_expiry(conn)
        for run_id, events in expired:
            self.hub.publish_all(run_id, events)
        due = began - 1 + self.expires_after
        if soonest is not None:
            due = min(due, soonest)
        return min(max(due - time.time(), RUNS_EVERY_S), RUNS_AT_LEAST_EVERY_S)

    def remove_orphans(self, recent_too: bool = True) -> int:
        """At start-up, before any upload: bytes a crash left without a row (an upload killed
        between its fsync and its commit, a half-written `.part`) are deleted. In a files dir
        that replicas may share (`recent_too` False: one given with --files-dir) another replica
        may be mid-upload: only bytes older than an hour count as orphans."""
        with self.store.read_conn() as conn:
            known = files.all_paths(conn) | containers.all_blobs(conn)
        cutoff = time.time() - (0 if recent_too else ORPHAN_AGE_S)
        orphans = [p for p in self.files_dir.iterdir()
                   if p.is_file() and p.name not in known and p.stat().st_mtime <= cutoff]
        for path in orphans:
            path.unlink(missing_ok=True)
        if orphans:
            log.warning("removed %d file(s) a crash left without a record", len(orphans))
        return len(orphans)

    def purge_files(self) -> None:
        with self.store.begin() as conn:
            paths = files.purge_expired(conn, self.files_dir)
            expired = containers.expire_due(conn)
        for path in paths:
            path.unlink(missing_ok=True)
        for container_id, blobs in expired:
            for blob in blobs:
                (self.files_dir / blob).unlink(missing_ok=True)
            self.on_container_expired(container_id)
