"""Messages between replicas sharing one PostgreSQL database: LISTEN/NOTIFY on one channel.

Every replica listens on `airlock` from one connection of its own and sends on another, so what a
replica sends arrives everywhere in the order it was sent. `send` only queues: a sender thread
(`run_sender`) packs what is queued into as few notifications as fit (`*` then payloads joined
by RS, 0x1E, which JSON never holds unescaped; `=` then a single payload), so a turn publishing
events never waits on a round trip and a burst of events costs one NOTIFY. A payload over
NOTIFY's limit (8000 bytes) is stored in `bus_overflow` and the notification carries its seq.
Notifications are not durable in PostgreSQL anyway, so the sending connection commits without
waiting for the WAL flush. With SQLite there is one process and no bus: `Store.bus()` returns
None and wake-ups stay in-process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, Select, column, func, select, table
from sqlalchemy.engine import make_url

log = logging.getLogger("airlock.store")
CHANNEL = "airlock"
# NOTIFY refuses payloads of 8000 bytes or more; leave room for the prefix.
MAX_INLINE = 7900
# Separates payloads packed into one notification.
RS = "\x1e"
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
        self._lock = threading.Lock()  # the sending connection
        self._conn: psycopg.Connection | None = None
        self._overflows = 0
        self._queue: deque[str] = deque()
        self._queued = threading.Condition()
        self._sender = False  # a thread runs `run_sender`
        self._closed = False

    def send(self, payload: str) -> None:
        """Sends `payload` to every listening replica (this one included), after what was sent
        before it; never raises: a lost notification costs a wake-up delay or a stream's event,
        not the caller's work. Queued for the sender thread when one runs."""
        with self._queued:
            if self._sender and not self._closed:
                self._queue.append(payload)
                self._queued.notify()
                return
        self._send_all([payload])

    def run_sender(self, stopping: threading.Event) -> None:
        """The sender thread's loop, until `stopping` is set; `close` sends what is left."""
        with self._queued:
            self._sender = True
        while True:
            with self._queued:
                while not self._queue and not stopping.is_set():
                    self._queued.wait(1.0)
                if not self._queue:
                    return
                batch = list(self._queue)
                self._queue.clear()
            try:
                self._send_all(batch)
            except Exception:  # the thread must outlive anything: a dead sender loses all
                log.exception("notifying the other replicas failed")

    def _send_all(self, payloads: list[str]) -> None:
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._send_packed(payloads)
                    return
                except psycopg.Error:
                    self._reset()
                    if attempt == 2:
                        log.exception("notifying the other replicas failed")

    def _send_packed(self, payloads: list[str]) -> None:
        """As few notifications as hold `payloads`, in order: each is its own transaction, so
        PostgreSQL never folds two identical ones into one."""
        if self._conn is None or self._conn.closed:
            # Notifications are not durable anyway: no WAL flush to wait for.
            self._conn = psycopg.connect(self.url, autocommit=True,
                                         options="-c synchronous_commit=off")
        conn = self._conn
        packed: list[str] = []
        size = 0
        for payload in payloads:
            n = len(payload.encode())
            if n > MAX_INLINE or RS in payload:
                self._notify(conn, packed)
                packed, size = [], 0
                self._send_one(conn, payload, n)
                continue
            if packed and size + 1 + n > MAX_INLINE:
                self._notify(conn, packed)
                packed, size = [], 0
            packed.append(payload)
            size += n + 1
        self._notify(conn, packed)

    @staticmethod
    def _notify(conn: psycopg.Connection, packed: list[str]) -> None:
        """`=payload` for one, `*p1<RS>p2...` for several."""
        if packed:
            body = "=" + packed[0] if len(packed) == 1 else "*" + RS.join(packed)
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, body))

    def _send_one(self, conn: psycopg.Connection, payload: str, size: int) -> None:
        if size <= MAX_INLINE:
            self._notify(conn, [payload])  # holds RS: alone, never split
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
               ready: threading.Event | None = None,
               on_connect: Callable[[], None] | None = None) -> None:
        """Calls `handler(payload)` for every message, in order, until `stopping` is set
        (a thread's loop). Reconnects after a lost connection; `on_connect` runs each time
        the listener is (re)connected, since messages sent meanwhile were missed."""
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
                    if on_connect is not None:
                        try:
                            on_connect()
                        except Exception:
                            log.exception("catching up after connecting failed")
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
            payloads = [row[0]]
        elif raw.startswith("*"):
            payloads = raw[1:].split(RS)
        else:
            payloads = [raw[1:]]
        for payload in payloads:
            try:
                handler(payload)
            except Exception:
                log.exception("handling a message from another replica failed")

    def close(self) -> None:
        """Sends what is still queued (the sender thread has stopped), then disconnects."""
        with self._queued:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
        if left:
            self._send_all(left)
        with self._lock:
            self._reset()
