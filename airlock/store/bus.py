"""Messages between replicas sharing one PostgreSQL database: LISTEN/NOTIFY on one channel.

Every replica listens on `airlock` from one connection of its own and sends on another, so what a
replica sends arrives everywhere in the order it was sent. A payload over NOTIFY's limit (8000
bytes) is stored in `bus_overflow` and the notification carries its seq. With SQLite there is one
process and no bus: `Store.bus()` returns None and wake-ups stay in-process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, Select, column, func, select, table
from sqlalchemy.engine import make_url

log = logging.getLogger("airlock.store")
CHANNEL = "airlock"
# NOTIFY refuses payloads of 8000 bytes or more; leave room for the prefix.
MAX_INLINE = 7900
OVERFLOW_KEEP_S = 300.0
RECONNECT_S = 1.0
# application_name of a replica's listener: the prefix, then the replica's name (<= 63 bytes).
APP_PREFIX = "airlock:"


def libpq_url(sqlalchemy_url: str) -> str:
    """postgresql+psycopg://... as a libpq connection URI."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def live_replicas_query() -> Select[str]:
    """The names of the replicas whose listener is connected right now, as a subquery. A
    replica killed outright loses its connections at once (the kernel closes its sockets), so
    its claims can end without waiting for their leases."""
    activity = table("pg_stat_activity", column("application_name"))
    name = activity.c.application_name
    return select(func.substr(name, len(APP_PREFIX) + 1)).where(name.like(APP_PREFIX + "%"))


def live_replicas(conn: Connection) -> set[str]:
    """The names of the replicas whose listener is connected right now."""
    return set(conn.execute(live_replicas_query()).scalars())


class Bus:
    """`replica` names the listener's connection (application_name), which `live_replicas`
    reads back."""

    def __init__(self, url: str, replica: str):
        self.url = libpq_url(url)
        self.replica = replica
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._overflows = 0

    def send(self, payload: str) -> None:
        """Sends `payload` to every listening replica (this one included); never raises: a lost
        notification costs a wake-up delay or a stream's event, not the caller's work."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._send(payload)
                    return
                except psycopg.Error:
                    self._reset()
                    if attempt == 2:
                        log.exception("notifying the other replicas failed")

    def _send(self, payload: str) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        conn = self._conn
        if len(payload.encode()) <= MAX_INLINE:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "=" + payload))
            return
        with conn.transaction():
            row = conn.execute("INSERT INTO bus_overflow (created_at, body) VALUES (%s, %s) "
                               "RETURNING seq", (time.time(), payload)).fetchone()
            assert row is not None
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"@{row[0]}"))
        self._overflows += 1
        if self._overflows % 100 == 0:
            conn.execute("DELETE FROM bus_overflow WHERE created_at < %s",
                         (time.time() - OVERFLOW_KEEP_S,))

    def _reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def listen(self, handler: Callable[[str], None], stopping: threading.Event,
               ready: threading.Event | None = None) -> None:
        """Calls `handler(payload)` for every message, in order, until `stopping` is set
        (a thread's loop). Reconnects after a lost connection."""
        while not stopping.is_set():
            try:
                # Overflow bodies are read on a second connection: the listening one is busy
                # (locked) while its notifies() generator runs.
                with psycopg.connect(self.url, autocommit=True,
                                     application_name=APP_PREFIX + self.replica) as conn, \
                        psycopg.connect(self.url, autocommit=True) as reader:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if ready is not None:
                        ready.set()
                    while not stopping.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._deliver(reader, note.payload, handler)
            except psycopg.Error:
                if not stopping.is_set():
                    log.exception("listening for the other replicas failed; reconnecting")
                    stopping.wait(RECONNECT_S)

    @staticmethod
    def _deliver(conn: psycopg.Connection, raw: str, handler: Callable[[str], None]) -> None:
        if raw.startswith("@"):
            row = conn.execute("SELECT body FROM bus_overflow WHERE seq = %s",
                               (int(raw[1:]),)).fetchone()
            if row is None:
                return
            payload = row[0]
        else:
            payload = raw[1:]
        try:
            handler(payload)
        except Exception:
            log.exception("handling a message from another replica failed")

    def close(self) -> None:
        with self._lock:
            self._reset()
