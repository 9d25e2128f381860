"""Every background thread of a server, started and stopped in one place.

| thread                     | what it does                                              |
|----------------------------|-----------------------------------------------------------|
| airlock-model-<backend>    | one per model backend, on first use: claims queued runs,  |
|                            | then background responses, and executes their turns       |
|                            | (engine.scheduler, engine.turn,                           |
|                            | service.background_responses)                             |
| airlock-ingest-<i>         | AIRLOCK_INGEST_WORKERS of them: parse, chunk, embed and    |
|                            | index vector-store files (engine.ingestion)                |
| airlock-sweeper            | expires waiting runs (when the next can be due), deletes   |
|                            | expired files                                              |
| airlock-sandbox-start      | once at start-up: probes the jail, pre-warms kernels       |
| airlock-listen             | PostgreSQL only: peers' run events and wake-ups (cluster)  |
| airlock-notify             | PostgreSQL only: sends this replica's events and wake-ups  |
|                            | to its peers, packed into few notifications (store.bus)    |
| airlock-leases             | PostgreSQL only: renews this replica's claims, ends or     |
|                            | re-queues lapsed ones (engine.cluster)                     |

The code_interpreter kernel pool keeps threads of its own inside airlock.tools; it is started
and stopped from here too. Every thread is a daemon and watches `stopping`; `stop` joins them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from airlock.engine.cluster import Cluster, replica_name
from airlock.engine.core.builtins import Toolbox
from airlock.engine.events import Hub
from airlock.engine.ingestion import Ingestor
from airlock.engine.sandbox import Sandbox
from airlock.engine.scheduler import Scheduler
from airlock.engine.search import Search, parse_limits
from airlock.engine.sweeper import Sweeper
from airlock.models.registry import Registry
from airlock.models.scripted import ScriptedBackend
from airlock.settings import Settings
from airlock.store import Store, scripted_replies
from airlock.store.records import JsonObject

log = logging.getLogger("airlock.engine")
JOIN_TIMEOUT_S = 30.0
LISTEN_READY_S = 10.0


class Background:
    def __init__(self, store: Store, registry: Registry, cfg: Settings):
        self.store, self.registry, self.cfg = store, registry, cfg
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.hub = Hub()
        self.replica = replica_name()
        self.search = Search(store, cfg.index_dir, cfg.embedding_model, parse_limits(cfg),
                             chroma_url=cfg.chroma_url)
        self.ingestor = Ingestor(store, cfg.files_dir, self.search, self.stopping, cfg.lease_s)
        self.sandbox = Sandbox(cfg)
        toolbox = Toolbox(search=self.search, ingestor=self.ingestor, sandbox=self.sandbox,
                          files_dir=cfg.files_dir, search_wait_s=cfg.search_wait_s,
                          replica=self.replica)
        self.scheduler = Scheduler(store, registry, self.hub, toolbox, self.stopping, self.spawn,
                                   replica=self.replica, lease_s=cfg.lease_s, works=cfg.workers)
        self.sweeper = Sweeper(store, self.hub, cfg.files_dir, self.stopping,
                               expires_after=cfg.run_expires_after_s)
        self.sweeper.on_container_expired = self.drop_kernel
        bus = store.bus(self.replica)
        self.cluster = None if bus is None else Cluster(
            store, bus, self.hub, self.scheduler, self.ingestor, self.replica, cfg.lease_s,
            self.stopping, on_drop=self._drop_for_peer)
        registry.set_scripted_factory(
            lambda: ScriptedBackend(self._next_scripted_reply, strict=cfg.scripted_strict))

    def spawn(self, name: str, target: Callable[[], Any]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def start(self) -> None:
        if self.cluster is not None:
            self.spawn("airlock-notify", self.cluster.send_loop)
            # Listening before anything is claimed or served: no peer's message is missed.
            self.spawn("airlock-listen", self.cluster.listen)
            self.cluster.listening.wait(LISTEN_READY_S)
            # Once before serving: a replica restarted after a crash ends its predecessor's runs.
            self.cluster.renew_and_reap()
            self.spawn("airlock-leases", self.cluster.keep_leases)
        # A files dir given with --files-dir may be shared with replicas mid-upload.
        self.sweeper.remove_orphans(recent_too=self.cfg.files_root is None)
        self.ingestor.recover()
        self.spawn("airlock-sandbox-start", self.sandbox.prepare)
        self.spawn("airlock-sweeper", self.sweeper.loop)
        if self.cfg.workers:
            for i in range(self.cfg.ingest_workers):
                self.spawn(f"airlock-ingest-{i}", self.ingestor.loop)
        self.scheduler.recover()

    def stop(self) -> None:
        self.stopping.set()
        self.scheduler.wake_all()
        self.ingestor.wake()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("thread %s did not stop within %.0f s", thread.name, JOIN_TIMEOUT_S)
        self.search.close()
        self.sandbox.shutdown()
        if self.cluster is not None:
            self.cluster.close()

    def drop_kernel(self, thread_id: str) -> None:
        """A deleted thread's kernel stops and its /mnt/data goes, here and on every peer."""
        self.sandbox.drop(thread_id)
        if self.cluster is not None:
            self.cluster.drop_kernel(thread_id)

    def _drop_for_peer(self, thread_id: str) -> None:
        # Off the listener's thread (stopping a kernel takes a while); not kept for `stop` to
        # join, since a kernel being stopped needs nothing more of us.
        threading.Thread(target=self.sandbox.drop, args=(thread_id,), name="airlock-drop-kernel",
                         daemon=True).start()

    def _next_scripted_reply(self, thread_id: str | None) -> JsonObject | None:
        # Not durable: no client was told the reply was taken. A database crash may put it
        # back in the queue, never after the run's durable ending (docs/deployment.md).
        with self.store.statement(durable=False) as conn:
            return scripted_replies.pop(conn, thread_id)
