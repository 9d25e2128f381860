"""Several replicas on one PostgreSQL database: what crosses between them, and the leases.

Only made when the store is shared (PostgreSQL); with SQLite airlock is one process and nothing
here runs. Messages travel on the store's bus (LISTEN/NOTIFY, `store.bus`), as JSON:

| kind | sent when                                   | a peer that receives it                  |
|------|---------------------------------------------|------------------------------------------|
| e    | a run event is published (deltas included)  | hands it to its own streams of that run  |
| w    | a run is queued for a backend               | wakes its worker for that backend        |
| i    | files are queued for ingestion              | wakes its ingestion workers              |
| s    | a cancel asks the run's worker to stop       | stops the run if one of its workers has it |
| k    | a thread is deleted                          | stops the thread's kernel if it has one  |

Each replica sends from one connection, so its events reach every peer in the order published;
a stream therefore sees a run's events in the order the replica running it produced them.

Leases: a claim (a run mid-turn, a file being ingested) holds for `lease_s`; the claiming replica
renews its claims every `lease_s / 3`. Every replica, at the same pace, ends runs whose lease
lapsed (failed, server_error; cancelled if a cancel was pending) and queues lapsed files again,
so the work of a replica killed outright neither stays stuck nor waits for a restart.

Idle cost: wake-ups come by NOTIFY, so an idle replica's transactions are this lease pass (one
or two every `lease_s / 3`), the workers' safety-net looks at the queues (scheduler, ingestion)
and the sweeper's (sweeper). Messages a listener missed while reconnecting are made up for by
waking every worker; a replica leaving wakes them too.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from airlock.engine import response_state, run_state
from airlock.engine.events import EventData, Hub
from airlock.engine.ingestion import Ingestor
from airlock.engine.scheduler import Scheduler, publish_response
from airlock.store import Store
from airlock.store.bus import Bus, live_replicas

log = logging.getLogger("airlock.engine")


def replica_name() -> str:
    """Unique per process: a restarted replica does not renew its predecessor's leases. Short
    enough for a PostgreSQL application_name (63 bytes, store.bus)."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Cluster:
    def __init__(self, store: Store, bus: Bus, hub: Hub, scheduler: Scheduler,
                 ingestor: Ingestor, replica: str, lease_s: float, stopping: threading.Event,
                 on_drop: Callable[[str], None] = lambda _thread_id: None):
        self.store, self.bus, self.hub = store, bus, hub
        self.on_drop = on_drop  # a peer's thread was deleted: stop its kernel here (off this thread)
        self.scheduler, self.ingestor = scheduler, ingestor
        self.replica, self.lease_s, self.stopping = replica, lease_s, stopping
        self.listening = threading.Event()
        self._connects = 0
        self._live: set[str] = set()  # replicas alive at the last lease pass
        hub.forward = self.forward_event
        scheduler.peers = self
        ingestor.wake_peers = self.wake_ingest

    # --- sending --------------------------------------------------------------------------------

    def _send(self, kind: str, **fields: Any) -> None:
        # Row keys may be str subclasses (SQLAlchemy's quoted_name): OPT_NON_STR_KEYS takes them.
        self.bus.send(orjson.dumps({"k": kind, "o": self.replica, **fields},
                                   option=orjson.OPT_NON_STR_KEYS).decode())

    def forward_event(self, run_id: str, name: str, data: EventData) -> None:
        self._send("e", r=run_id, n=name, d=data)

    def wake_runs(self, backend: str) -> None:
        self._send("w", b=backend)

    def wake_ingest(self) -> None:
        self._send("i")

    def stop_run(self, run_id: str) -> None:
        self._send("s", r=run_id)

    def drop_kernel(self, thread_id: str) -> None:
        self._send("k", t=thread_id)

    def send_loop(self) -> None:
        """The sender thread's loop: what the replica publishes goes out in order, packed, off
        the threads that publish it."""
        self.bus.run_sender(self.stopping)

    # --- receiving ------------------------------------------------------------------------------

    def listen(self) -> None:
        """The listener thread's loop."""
        self.bus.listen(self._receive, self.stopping, self.listening, self._connected)

    def _connected(self) -> None:
        """The listener (re)connected. After a reconnect, wake-ups sent meanwhile were missed:
        the workers look at the queues now, instead of at their next idle check."""
        self._connects += 1
        if self._connects > 1:
            self.scheduler.wake_queued()
            self.ingestor.wake(tell_peers=False)

    def _receive(self, payload: str) -> None:
        msg = orjson.loads(payload)
        if msg.get("o") == self.replica:
            return  # our own: already delivered in-process
        kind = msg["k"]
        if kind == "e":
            self.hub.deliver(msg["r"], msg["n"], msg["d"])
        elif kind == "w":
            self.scheduler.wake(msg["b"], tell_peers=False)
        elif kind == "i":
            self.ingestor.wake(tell_peers=False)
        elif kind == "s":
            self.scheduler.stop_if_held(msg["r"])
        elif kind == "k":
            self.on_drop(msg["t"])

    # --- leases ---------------------------------------------------------------------------------

    def keep_leases(self) -> None:
        """The lease thread's loop: renew ours, end or re-queue lapsed ones (anyone's)."""
        while not self.stopping.wait(self.lease_s / 3):
            try:
                self.renew_and_reap()
            except Exception:
                log.exception("renewing or reaping leases failed")

    def renew_and_reap(self) -> None:
        held = self.scheduler.held()
        if held:
            with self.store.begin() as conn:
                renewed = self.scheduler.renew(conn, held)
            for run_id in set(held) - renewed:
                # Ended while we worked on it (we stalled past the lease and a peer failed it):
                # the turn stops instead of generating for nobody.
                self.scheduler.stop_if_held(run_id)
        self.ingestor.renew_leases()
        with self.store.begin() as conn:
            live = live_replicas(conn) | {self.replica}
            ended = run_state.end_lapsed(conn, live)
            responses = response_state.end_lapsed(conn, live)
        gone, self._live = self._live - live, live
        if gone:
            # Runs of threads whose kernel lived on a replica that left may now run here.
            self.scheduler.wake_queued()
        for run_id, events in ended:
            log.warning("run %s: its replica's lease lapsed; ended %s", run_id,
                        events[-1][0].rsplit(".", 1)[-1])
            self.hub.publish_all(run_id, events)
        for response_id, closing in responses:
            log.warning("response %s: its replica's lease lapsed; ended failed", response_id)
            publish_response(self.hub, response_id, closing)
        self.ingestor.requeue_lapsed()

    def close(self) -> None:
        self.bus.close()
