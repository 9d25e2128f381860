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
from typing import Protocol

from sqlalchemy import Connection

from airlock.engine import response_state, run_state
from airlock.engine.core.builtins import Toolbox
from airlock.engine.events import Hub
from airlock.engine.response_state import Claimed
from airlock.engine.run_state import RunRecord
from airlock.engine.turn import Turn
from airlock.models.registry import Registry
from airlock.store import Store
from airlock.store.records import JsonObject

log = logging.getLogger("airlock.engine")
# How often an idle worker looks at the store without being woken: with SQLite for another
# process's runs; with PostgreSQL only as a safety net, since peers' wake-ups come by NOTIFY,
# the listener wakes every worker when it (re)connects (it may have missed some), and the
# lease thread does when a replica leaves (runs of threads whose kernel it held are free).
IDLE_CHECK_S = 1.0
SHARED_IDLE_CHECK_S = 30.0

Spawn = Callable[[str, Callable[[], None]], None]
# Runs a claimed background response to its end (service.background_responses registers it:
# the Responses adapter lives above the engine).
Respond = Callable[[Claimed, Callable[[], bool]], None]


class Peers(Protocol):
    """The other replicas sharing the store (engine.cluster), when there are any."""

    def wake_runs(self, backend: str) -> None: ...
    def stop_run(self, run_id: str) -> None: ...


class Scheduler:
    """`replica` names this process in the runs it claims; each claim holds for `lease_s` and is
    renewed (engine.leases) while the run is in `held`. With `works` False this replica only
    serves the API: other replicas run the turns."""

    def __init__(self, store: Store, registry: Registry, hub: Hub, toolbox: Toolbox,
                 stopping: threading.Event, spawn: Spawn, *, replica: str = "",
                 lease_s: float = 0.0, works: bool = True):
        self.store, self.registry, self.hub, self.toolbox = store, registry, hub, toolbox
        self.stopping, self._spawn = stopping, spawn
        self.replica, self.lease_s, self.works = replica, lease_s, works
        self.peers: Peers | None = None
        self.respond: Respond | None = None
        self._wakes: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._cancels: dict[str, threading.Event] = {}
        self._held: set[str] = set()

    def recover(self) -> None:
        """At start-up: runs a dead process left mid-turn end failed; queued work is taken up.
        A shared store is left alone: other replicas may be working on those runs, and a run
        whose replica died ends when its lease lapses (engine.leases)."""
        with self.store.begin() as conn:
            failed = [] if self.store.is_shared else run_state.fail_interrupted(conn)
            ended = [] if self.store.is_shared else response_state.fail_interrupted(conn)
            pending = _backends_with_work(conn)
        if failed or ended:
            log.warning("marked %d run(s) and %d background response(s) interrupted by a "
                        "restart as failed", len(failed), len(ended))
        for response_id, events in ended:
            publish_response(self.hub, response_id, events)
        for backend in pending:
            self.wake(backend, tell_peers=False)

    def wake(self, backend: str, *, tell_peers: bool = True) -> None:
        """Tells `backend`'s worker that a run is queued, starting the worker on first use;
        the other replicas' workers hear of it too, so whichever is free takes it."""
        if tell_peers and self.peers is not None:
            self.peers.wake_runs(backend)
        if not self.works:
            return
        with self._lock:
            wake = self._wakes.get(backend)
            if wake is None:
                wake = self._wakes[backend] = threading.Event()
                self._spawn(f"airlock-model-{backend}", lambda: self._work(backend, wake))
        wake.set()

    def held(self) -> list[str]:
        """The runs this replica's workers are executing (their leases are renewed)."""
        with self._lock:
            return list(self._held)

    def wake_all(self) -> None:
        with self._lock:
            for wake in self._wakes.values():
                wake.set()

    def wake_queued(self) -> None:
        """Wakes the workers of every backend with queued runs (starting those not running),
        as if each run had just been queued; this replica's peers are not told."""
        with self.store.read_conn() as conn:
            pending = _backends_with_work(conn)
        for backend in pending:
            self.wake(backend, tell_peers=False)

    def request_stop(self, run_id: str) -> None:
        """Asks the worker generating `run_id` to stop; it finishes the run as cancelled. The
        worker may be another replica's: it is told too."""
        self._cancel_event(run_id).set()
        if self.peers is not None:
            self.peers.stop_run(run_id)

    def stop_if_held(self, run_id: str) -> None:
        """Stops `run_id`'s turn if one of this replica's workers is executing it (a peer asked,
        or the run ended under us); otherwise nothing."""
        with self._lock:
            stop = self._cancels.get(run_id) if run_id in self._held else None
        if stop is not None:
            stop.set()

    def _cancel_event(self, run_id: str) -> threading.Event:
        with self._lock:
            return self._cancels.setdefault(run_id, threading.Event())

    def _work(self, backend: str, wake: threading.Event) -> None:
        while not self.stopping.is_set():
            try:
                # One statement. Threads whose kernel lives on another live replica wait for
                # it.
                with self.store.statement() as conn:
                    run = run_state.claim_next(conn, backend, self.replica, self.lease_s,
                                               elsewhere=self.peers is not None)
                work: RunRecord | Claimed | None = run
                if run is None and self.respond is not None:
                    # Runs first, then background responses: both FIFO within their queue.
                    with self.store.begin() as conn:
                        work = response_state.claim_next(conn, backend, self.replica,
                                                         self.lease_s,
                                                         elsewhere=self.peers is not None)
                if work is not None:
                    # Held once committed: a renewal never sees (and stops) an uncommitted claim.
                    with self._lock:
                        self._held.add(work.id)
            except Exception:
                log.exception("claiming queued work failed")
                work = None
            if work is None:
                wake.wait(SHARED_IDLE_CHECK_S if self.peers is not None else IDLE_CHECK_S)
                wake.clear()
                continue
            try:
                if isinstance(work, Claimed):
                    self._respond(work)
                else:
                    self._execute(work)
            finally:
                with self._lock:
                    self._held.discard(work.id)

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

    def _respond(self, claimed: Claimed) -> None:
        stop = self._cancel_event(claimed.id)
        assert self.respond is not None
        try:
            self.respond(claimed, lambda: stop.is_set() or self.stopping.is_set())
        except Exception as exc:
            log.exception("background response %s failed", claimed.id)
            with self.store.begin() as conn:
                events = response_state.fail(conn, claimed.id, f"The model failed: {exc}")
            publish_response(self.hub, claimed.id, events)
        finally:
            with self._lock:
                self._cancels.pop(claimed.id, None)

    def renew(self, conn: Connection, held: list[str]) -> set[str]:
        """Renews the leases of what this replica's workers hold (runs and background
        responses); returns what was renewed: the rest ended meanwhile."""
        return (run_state.renew_leases(conn, held, self.replica, self.lease_s)
                | response_state.renew_leases(conn, held, self.replica, self.lease_s))


def publish_response(hub: Hub, response_id: str, events: list[JsonObject]) -> None:
    """A background response's newly stored events, to its live streams (here and on peers)."""
    hub.publish_all(response_id, [(str(e["type"]), e) for e in events])


def _backends_with_work(conn: Connection) -> list[str]:
    return sorted(set(run_state.backends_with_work(conn))
                  | set(response_state.backends_with_work(conn)))
