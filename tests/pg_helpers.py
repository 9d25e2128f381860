"""A real PostgreSQL server for the tests: started once per session by scripts/cluster/pg.sh in a
temporary directory, one fresh database per airlock server (or cluster) that asks for one.

`AIRLOCK_TEST_DATABASE=postgres` runs the whole suite's servers on it; tests/cluster always does.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_SH = REPO_ROOT / "scripts" / "cluster" / "pg.sh"


def use_postgres() -> bool:
    return os.environ.get("AIRLOCK_TEST_DATABASE", "sqlite").lower() in ("postgres", "postgresql")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL server in a temporary directory; stopped when the test process exits."""

    _instance: PgServer | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        # Not under pytest's basetemp: its directories are 0700, and as root the cluster runs
        # as the unprivileged `postgres` user, which must reach its own directory.
        self.dir = Path(tempfile.mkdtemp(prefix="airlock-pg-"))
        self.dir.chmod(0o755)
        self.port = _free_port()
        out = subprocess.run(["bash", str(PG_SH), "start", str(self.dir), str(self.port)],
                             check=True, capture_output=True, text=True)
        self.url = out.stdout.strip().splitlines()[-1]
        atexit.register(self.stop)

    @classmethod
    def shared(cls) -> PgServer:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"postgresql://airlock@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://airlock@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(["bash", str(PG_SH), "stop", str(self.dir)], check=False,
                       capture_output=True)
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)
