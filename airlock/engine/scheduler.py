"""Runs turns: one worker thread per model backend, claiming queued runs from the store.

A Llama object is not thread-safe, so each backend has exactly one worker; turns wait in the
store's queue (FIFO by the time they were queued), never on the event loop. The store is the
queue, so a restarted server, or later several processes, see the same work.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airlock.engine import runs
from airlock.engine.events import Hub
from airlock.engine.store import Store
from airlock.engine.tools import Toolbox
from airlock.engine.turn import Turn
from airlock.models.registry import Registry

log = logging.getLogger("airlock.engine")
# How often an idle worker looks at the store without being woken (other processes' runs).
IDLE_CHECK_S = 1.0


class Scheduler:
    def __init__(self, store: Store, registry: Registry, hub: Hub, toolbox: Toolbox | None = None):
        self.store, self.registry, self.hub, self.toolbox = store, registry, hub, toolbox
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._cancels: dict[str, threading.Event] = {}
        self.stopping = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="airlock-expiry", daemon=True)

    def start(self) -> None:
        with self.store.begin() as conn:
            failed = runs.fail_interrupted(conn)
            pending = runs.backends_with_work(conn)
        if failed:
            log.warning("marked %d run(s) interrupted by a restart as failed", len(failed))
        self._sweeper.start()
        for backend in pending:
            self.wake(backend)

    def wake(self, backend: str) -> None:
        with self._lock:
            worker = self._workers.get(backend)
            if worker is None:
                worker = self._workers[backend] = _Worker(self, backend)
                worker.start()
        worker.wake.set()

    def cancel_event(self, run_id: str) -> threading.Event:
        with self._lock:
            return self._cancels.setdefault(run_id, threading.Event())

    def request_stop(self, run_id: str) -> None:
        """Asks the worker generating `run_id` to stop; it finishes the run as cancelled."""
        self.cancel_event(run_id).set()

    def shutdown(self) -> None:
        self.stopping.set()
        for worker in list(self._workers.values()):
            worker.wake.set()
            worker.join(timeout=30)

    def _sweep(self) -> None:
        while not self.stopping.wait(IDLE_CHECK_S):
            try:
                with self.store.begin() as conn:
                    expired = runs.expire_due(conn)
                for run_id, events in expired:
                    self.hub.publish_all(run_id, events)
            except Exception:  # the sweeper must outlive a bad moment of the database
                log.exception("expiry sweep failed")

    def execute(self, backend_name: str, run: dict[str, Any]) -> None:
        run_id = run["id"]
        stop = self.cancel_event(run_id)
        try:
            backend = self.registry.backend(backend_name)
            Turn(self.store, self.hub, backend, run,
                 should_stop=lambda: stop.is_set() or self.stopping.is_set(),
                 toolbox=self.toolbox).execute()
        except Exception as exc:
            log.exception("run %s failed", run_id)
            self._fail(run_id, f"The model failed: {exc}")
        finally:
            with self._lock:
                self._cancels.pop(run_id, None)

    def _fail(self, run_id: str, message: str) -> None:
        with self.store.begin() as conn:
            if runs.load(conn, run_id)["status"] in runs.TERMINAL:
                return
            events = runs.finish(conn, run_id, "failed",
                                 last_error={"code": "server_error", "message": message})
        self.hub.publish_all(run_id, events)


class _Worker(threading.Thread):
    def __init__(self, scheduler: Scheduler, backend: str):
        super().__init__(name=f"airlock-model-{backend}", daemon=True)
        self.scheduler, self.backend = scheduler, backend
        self.wake = threading.Event()

    def run(self) -> None:
        s = self.scheduler
        while not s.stopping.is_set():
            try:
                with s.store.begin() as conn:
                    run = runs.claim_next(conn, self.backend)
            except Exception:
                log.exception("claiming a run failed")
                run = None
            if run is None:
                self.wake.wait(IDLE_CHECK_S)
                self.wake.clear()
                continue
            s.execute(self.backend, run)
