"""Runs turns: one worker per model backend, claiming queued runs from the store.

A Llama object is not thread-safe, so each backend has exactly one worker; turns wait in the
store's queue (FIFO by the time they were queued), never on the event loop. The store is the
queue, so a restarted server, or later several processes, see the same work. Threads are made
by `engine.background`, which hands the scheduler its `spawn`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from airlock.engine import run_state
from airlock.engine.events import Hub
from airlock.engine.rounds.toolbox import Toolbox
from airlock.engine.run_state import RunRecord
from airlock.engine.turn import Turn
from airlock.models.registry import Registry
from airlock.store import Store

log = logging.getLogger("airlock.engine")
# How often an idle worker looks at the store without being woken (other processes' runs).
IDLE_CHECK_S = 1.0

Spawn = Callable[[str, Callable[[], None]], None]


class Scheduler:
    def __init__(self, store: Store, registry: Registry, hub: Hub, toolbox: Toolbox,
                 stopping: threading.Event, spawn: Spawn):
        self.store, self.registry, self.hub, self.toolbox = store, registry, hub, toolbox
        self.stopping, self._spawn = stopping, spawn
        self._wakes: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._cancels: dict[str, threading.Event] = {}

    def recover(self) -> None:
        """At start-up: runs a dead process left mid-turn end failed; queued work is taken up."""
        with self.store.begin() as conn:
            failed = run_state.fail_interrupted(conn)
            pending = run_state.backends_with_work(conn)
        if failed:
            log.warning("marked %d run(s) interrupted by a restart as failed", len(failed))
        for backend in pending:
            self.wake(backend)

    def wake(self, backend: str) -> None:
        """Tells `backend`'s worker that a run is queued, starting the worker on first use."""
        with self._lock:
            wake = self._wakes.get(backend)
            if wake is None:
                wake = self._wakes[backend] = threading.Event()
                self._spawn(f"airlock-model-{backend}", lambda: self._work(backend, wake))
        wake.set()

    def wake_all(self) -> None:
        with self._lock:
            for wake in self._wakes.values():
                wake.set()

    def request_stop(self, run_id: str) -> None:
        """Asks the worker generating `run_id` to stop; it finishes the run as cancelled."""
        self._cancel_event(run_id).set()

    def _cancel_event(self, run_id: str) -> threading.Event:
        with self._lock:
            return self._cancels.setdefault(run_id, threading.Event())

    def _work(self, backend: str, wake: threading.Event) -> None:
        while not self.stopping.is_set():
            try:
                with self.store.begin() as conn:
                    run = run_state.claim_next(conn, backend)
            except Exception:
                log.exception("claiming a run failed")
                run = None
            if run is None:
                wake.wait(IDLE_CHECK_S)
                wake.clear()
                continue
            self._execute(run)

    def _execute(self, run: RunRecord) -> None:
        stop = self._cancel_event(run.id)
        try:
            backend = self.registry.backend(run.backend)
            Turn(self.store, self.hub, backend, run, toolbox=self.toolbox,
                 should_stop=lambda: stop.is_set() or self.stopping.is_set(),
                 sampling=self.registry.get(run.backend).sampling.extra()).execute()
        except Exception as exc:
            log.exception("run %s failed", run.id)
            with self.store.begin() as conn:
                events = run_state.fail(conn, run.id, f"The model failed: {exc}")
            self.hub.publish_all(run.id, events)
        finally:
            with self._lock:
                self._cancels.pop(run.id, None)
