"""The durable store: one SQLAlchemy engine, migrated to the newest schema on open."""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, exc, text

if TYPE_CHECKING:
    from airlock.store.bus import Bus

_HERE = Path(__file__).parent
# pg_advisory_xact_lock key held while migrating (any constant unique to airlock).
MIGRATION_LOCK = 0x61_69_72_6C_6F_63_6B
T = TypeVar("T")
P = ParamSpec("P")


class Store:
    """How a transaction may be run:

    | call                         | PostgreSQL                                 | SQLite          |
    |------------------------------|--------------------------------------------|-----------------|
    | `begin()`                    | BEGIN … COMMIT, durable                    | a transaction   |
    | `begin(durable=False)`       | the same with synchronous_commit off       | a transaction   |
    | `statement(durable=…)`       | one statement in autocommit: its own       | a transaction   |
    |                              | transaction, without the BEGIN and COMMIT  |                 |
    |                              | round trips                                |                 |
    | `read_conn()`                | autocommit                                 | a transaction   |

    A write is `durable=False` only when no client was told it happened: partial text, a
    scripted reply taken from its queue. On a crash of the database server such a write may be
    lost (the last ~0.6 s of them, 3 × wal_writer_delay), but never one committed before a
    durable write: the WAL is flushed in order, so a durable commit flushes every commit before
    it. docs/deployment.md lists which writes are which.
    """

    def __init__(self, url: str, files_dir: Path, *, sqlite_synchronous: str = "NORMAL"):
        self.url = url
        self.files_dir = files_dir
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.is_sqlite = url.startswith("sqlite")
        # Several replicas may share a PostgreSQL database: claims take leases, wake-ups and
        # run events cross replicas on the bus (store.bus).
        self.is_shared = url.startswith("postgresql")
        self.engine = self._engine(pool_size=8, max_overflow=8)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(sqlite_synchronous))
            self._lazy = self._reader = self._single = self._lazy_single = self.engine
            return
        # Writes no client was told about commit without waiting for the WAL flush.
        self._lazy = self._engine(pool_size=2, max_overflow=6,
                                  options="-c synchronous_commit=off")
        # Reads run in autocommit: under READ COMMITTED each statement takes its own snapshot
        # anyway, and BEGIN and ROLLBACK would be two more round trips (and a rollback makes
        # psycopg deallocate the connection's prepared statements). One-statement writes too.
        self._reader = self._single = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._lazy_single = self._lazy.execution_options(isolation_level="AUTOCOMMIT")

    def _engine(self, *, pool_size: int, max_overflow: int, options: str = "") -> Engine:
        connect_args: dict[str, Any] = {"check_same_thread": False} if self.is_sqlite else {}
        if options:
            connect_args["options"] = options
        engine = create_engine(
            self.url,
            connect_args=connect_args,
            pool_size=pool_size,
            max_overflow=max_overflow,
            # JSON columns are decoded on every read; orjson does it several times faster.
            json_serializer=lambda v: orjson.dumps(v).decode(),
            json_deserializer=orjson.loads,
        )
        if not self.is_sqlite:
            # A database server restarted under a replica leaves dead connections in the pool.
            event.listen(engine, "checkin", _returned)
            event.listen(engine, "checkout", _drop_closed)
        return engine

    def migrate(self) -> None:
        """Bring the schema to the newest revision; old data is carried forward by the migrations."""
        cfg = Config()
        cfg.set_main_option("script_location", str(_HERE / "migrations"))
        cfg.attributes["connection_url"] = self.url
        with self.engine.begin() as conn:
            if self.is_shared:
                # Replicas starting together migrate one at a time; the later ones find the
                # schema at head. The lock ends with this transaction.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    async def read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args,
                   **kwargs: P.kwargs) -> T:
        """Runs `fn(conn, *args)` on a read connection."""
        return await self._call(self._read_sync, lambda conn: fn(conn, *args, **kwargs))

    async def write(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args,
                    **kwargs: P.kwargs) -> T:
        """Runs `fn(conn, *args)` in one write transaction: it all lands, or nothing does."""
        return await self._call(self._write_sync, lambda conn: fn(conn, *args, **kwargs))

    async def _call(self, runner: Callable[[Callable[[Connection], T]], T],
                    fn: Callable[[Connection], T]) -> T:
        # Never on the event loop: background threads (model workers, ingestion, sweepers) write
        # the same database, and a transaction waiting on their write lock (busy_timeout) would
        # stall every request and stream of the server. A thread hop costs ~0.1 ms.
        return await anyio.to_thread.run_sync(runner, fn)

    def _read_sync(self, fn: Callable[[Connection], T]) -> T:
        with self.read_conn() as conn:
            return fn(conn)

    def _write_sync(self, fn: Callable[[Connection], T]) -> T:
        with self.begin() as conn:
            return fn(conn)

    @contextmanager
    def begin(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction: everything in it lands, or nothing does."""
        with (self.engine if durable else self._lazy).begin() as conn:
            yield conn

    @contextmanager
    def statement(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write of exactly one statement (which is atomic by itself): on PostgreSQL it runs
        in autocommit, saving the BEGIN and COMMIT round trips."""
        with (self._single if durable else self._lazy_single).begin() as conn:
            yield conn

    @contextmanager
    def read_conn(self) -> Iterator[Connection]:
        with self._reader.connect() as conn:
            yield conn

    def bus(self, replica: str) -> Bus | None:
        """The replicas' message bus (PostgreSQL), or None for SQLite's one process."""
        if not self.is_shared:
            return None
        from airlock.store.bus import Bus

        return Bus(self.url, replica)

    def close(self) -> None:
        self.engine.dispose()
        self._lazy.dispose()


# A pooled connection returned more recently than this cannot have outlived a restart of the
# database server (stopping and starting one takes longer), so it is not checked.
RECENT_S = 0.25


def _returned(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info["returned_at"] = time.monotonic()


def _drop_closed(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Checks a pooled PostgreSQL connection without a round trip: an idle connection has
    nothing to read unless the server closed it (a restart, an idle timeout, a terminated
    backend: the server sends its FATAL message, then EOF). SQLAlchemy's pre-ping would cost
    a round trip and a transaction on every checkout. A connection in use when the server went
    away fails its statement instead, and SQLAlchemy then drops the pool's connections."""
    if dbapi_conn.closed:
        raise exc.DisconnectionError("the connection is closed")
    if time.monotonic() - record.info.get("returned_at", 0.0) < RECENT_S:
        return
    poll = select.poll()
    poll.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poll.poll(0):
        raise exc.DisconnectionError("the server closed the connection")


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        # Writers queue behind each other instead of failing with "database is locked".
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    return on_connect
