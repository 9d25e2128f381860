"""The durable store: one SQLAlchemy engine, migrated to the newest schema on open."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, event, text

if TYPE_CHECKING:
    from airlock.store.bus import Bus

_HERE = Path(__file__).parent
# pg_advisory_xact_lock key held while migrating (any constant unique to airlock).
MIGRATION_LOCK = 0x61_69_72_6C_6F_63_6B
T = TypeVar("T")


class Store:
    def __init__(self, url: str, files_dir: Path, *, sqlite_synchronous: str = "NORMAL"):
        self.url = url
        self.files_dir = files_dir
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.is_sqlite = url.startswith("sqlite")
        # Several replicas may share a PostgreSQL database: claims take leases, wake-ups and
        # run events cross replicas on the bus (store.bus).
        self.is_shared = url.startswith("postgresql")
        connect_args = {"check_same_thread": False} if self.is_sqlite else {}
        self.engine = create_engine(
            url,
            connect_args=connect_args,
            pool_size=8,
            max_overflow=8,
            # A database server restarted under a replica leaves dead connections in the pool.
            pool_pre_ping=self.is_shared,
            # JSON columns are decoded on every read; orjson does it several times faster.
            json_serializer=lambda v: orjson.dumps(v).decode(),
            json_deserializer=orjson.loads,
        )
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(sqlite_synchronous))

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

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs `fn(conn, *args)` on a read connection."""
        return await self._call(self._read_sync, fn, args, kwargs)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs `fn(conn, *args)` in one write transaction: it all lands, or nothing does."""
        return await self._call(self._write_sync, fn, args, kwargs)

    async def _call(self, runner: Callable[..., T], fn: Callable[..., T], args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> T:
        # Never on the event loop: background threads (model workers, ingestion, sweepers) write
        # the same database, and a transaction waiting on their write lock (busy_timeout) would
        # stall every request and stream of the server. A thread hop costs ~0.1 ms.
        return await anyio.to_thread.run_sync(runner, fn, args, kwargs)

    def _read_sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self.read_conn() as conn:
            return fn(conn, *args, **kwargs)

    def _write_sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self.begin() as conn:
            return fn(conn, *args, **kwargs)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: everything in it lands, or nothing does."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read_conn(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def bus(self, replica: str) -> Bus | None:
        """The replicas' message bus (PostgreSQL), or None for SQLite's one process."""
        if not self.is_shared:
            return None
        from airlock.store.bus import Bus

        return Bus(self.url, replica)

    def close(self) -> None:
        self.engine.dispose()


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
