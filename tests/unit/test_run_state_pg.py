"""The run state machine's tests (test_run_state, test_run_endings, test_sweeper) again on PostgreSQL,
where a run's ending is one statement (the run's conditional UPDATE, and the UPDATEs closing
its message and step as data-modifying CTEs) and a claim, a scripted reply's pop and the common
turn ending are single statements in autocommit.

One migrated database for the module (scripts/cluster/pg.sh starts the server); each test
starts from empty tables. Skipped where PostgreSQL is not installed."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
from test_run_endings import *  # noqa: F403  (the same tests, collected here on PostgreSQL)
from test_run_state import *  # noqa: F403
from test_sweeper import *  # noqa: F403

from airlock.store import Store
from airlock.store.tables import Base

pytestmark = pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                                reason="PostgreSQL is not installed")


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from pg_helpers import PgServer

    url = PgServer.shared().new_database("unit")
    s = Store(url, tmp_path_factory.mktemp("pg-files"))
    s.migrate()
    s.close()
    return url


@pytest.fixture
def store(pg_url: str, tmp_path: Path):
    s = Store(pg_url, tmp_path / "files")
    yield s
    with s.begin(durable=False) as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    s.close()
