"""Messages between replicas sharing one PostgreSQL database: LISTEN/NOTIFY on one channel,
with every message also kept for a few minutes in `bus_log`.

Every replica listens on `airlock` from one connection of its own and sends on another, so what a
replica sends arrives everywhere in the order it was sent. `send` only queues: a sender thread
(`run_sender`) stores what is queued in `bus_log` and packs it into as few notifications as fit
(`*` then `seq:payload` entries joined by RS, 0x1E, which JSON never holds unescaped), all in one
transaction, so a turn publishing events never waits on a round trip and a burst of events costs
one round of NOTIFY. A message over NOTIFY's limit (8000 bytes) travels as `@seq`: the listeners
read its body from the log.

NOTIFY is not durable: a listener whose connection drops misses what is sent until it has
reconnected. The log is what it catches up from: after a reconnect it reads the messages after
the last it heard (less a margin, since concurrent senders commit out of seq order) and hands on
those it has not seen, so a stream open on the replica loses no event. The sending connection
commits without waiting for the WAL flush: the log only has to outlive a listener's reconnect,
not the database. With SQLite there is one process and no bus: `Store.bus()` returns None and
wake-ups stay in-process.
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
LOG_KEEP_S = 300.0
# Seqs below the highest one heard that a reconnecting listener reads again: a sender that took
# its seqs earlier may commit later than one that took them after.
CATCH_UP_SLACK = 1000
SEEN_KEEP = 20_000  # how many seqs a listener remembers having handed on
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
        self._sends = 0
        # The listener's: seqs handed on (a bounded window), and the highest.
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._last_seq: int | None = None
        self._floor = 0  # the log's end when it first listened: older messages are not its
        self._queue: deque[str] = deque()
        self._queued = threading.Condition()
        self._sender = False  # a thread runs `run_sender`
        self._closed = False

    def send(self, payload: str) -> None:
        """Sends `payload` to every listening replica (this one included), after what was sent
        before it; never raises: a message that could not be sent costs a wake-up delay or a
        stream's event, not the caller's work. Queued for the sender thread when one runs."""
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
        """Stores `payloads` in the log and notifies them, in order, in one transaction (each
        notification holds distinct seqs, so PostgreSQL never folds two into one)."""
        if self._conn is None or self._conn.closed:
            # The log only has to outlive a listener's reconnect: no WAL flush to wait for.
            self._conn = psycopg.connect(self.url, autocommit=True,
                                         options="-c synchronous_commit=off")
        conn = self._conn
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany("INSERT INTO bus_log (created_at, body) VALUES (%s, %s) "
                            "RETURNING seq", [(time.time(), p) for p in payloads],
                            returning=True)
            seqs = []
            while True:
                row = cur.fetchone()
                assert row is not None
                seqs.append(row[0])
                if not cur.nextset():
                    break
            packed: list[str] = []
            size = 0
            for seq, payload in zip(seqs, payloads, strict=True):
                entry = f"{seq}:{payload}"
                n = len(entry.encode())
                if n > MAX_INLINE or RS in payload:
                    self._notify(conn, packed)
                    packed, size = [], 0
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"@{seq}"))
                    continue
                if packed and size + 1 + n > MAX_INLINE:
                    self._notify(conn, packed)
                    packed, size = [], 0
                packed.append(entry)
                size += n + 1
            self._notify(conn, packed)
        self._sends += 1
        if self._sends % 100 == 0:
            conn.execute("DELETE FROM bus_log WHERE created_at < %s",
                         (time.time() - LOG_KEEP_S,))

    @staticmethod
    def _notify(conn: psycopg.Connection, packed: list[str]) -> None:
        if packed:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "*" + RS.join(packed)))

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
        (a thread's loop). Reconnects after a lost connection and hands on, from the log, what
        was sent meanwhile; `on_connect` runs each time the listener is (re)connected."""
        while not stopping.is_set():
            try:
                # Bodies are read on a second connection: the listening one is busy (locked)
                # while its notifies() generator runs.
                with psycopg.connect(self.url, autocommit=True,
                                     application_name=APP_PREFIX + self.replica) as conn, \
                        psycopg.connect(self.url, autocommit=True) as reader:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Listening first: whatever commits from now on is notified; what committed
                    # before is in the log.
                    self._catch_up(reader, handler)
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

    def _catch_up(self, conn: psycopg.Connection, handler: Callable[[str], None]) -> None:
        """On the first connection, only notes where the log stands (what came before this
        replica is not its business); on a reconnect, hands on what it missed."""
        if self._last_seq is None:
            row = conn.execute("SELECT coalesce(max(seq), 0) FROM bus_log").fetchone()
            self._last_seq = self._floor = row[0] if row else 0
            return
        since = max(self._floor, self._last_seq - CATCH_UP_SLACK)
        rows = conn.execute("SELECT seq, body FROM bus_log WHERE seq > %s ORDER BY seq",
                            (since,)).fetchall()
        missed = [(seq, body) for seq, body in rows if seq not in self._seen]
        if missed:
            log.warning("caught up on %d message(s) sent while the listener reconnected",
                        len(missed))
        for seq, body in missed:
            self._hand(seq, body, handler)

    def _deliver(self, conn: psycopg.Connection, raw: str,
                 handler: Callable[[str], None]) -> None:
        if raw.startswith("@"):
            seq = int(raw[1:])
            row = conn.execute("SELECT body FROM bus_log WHERE seq = %s", (seq,)).fetchone()
            entries = [] if row is None else [(seq, row[0])]
        else:
            entries = [(int(seq), payload) for seq, _, payload in
                       (entry.partition(":") for entry in raw[1:].split(RS))]
        for seq, payload in entries:
            self._hand(seq, payload, handler)

    def _hand(self, seq: int, payload: str, handler: Callable[[str], None]) -> None:
        """Hands a message on once: a reconnect's catch-up may read what NOTIFY also brings."""
        if seq in self._seen:
            return
        self._seen.add(seq)
        self._seen_order.append(seq)
        if len(self._seen_order) > SEEN_KEEP:
            self._seen.discard(self._seen_order.popleft())
        self._last_seq = max(self._last_seq or 0, seq)
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
