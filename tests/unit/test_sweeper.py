"""The sweeper (airlock/engine/sweeper.py) expires what is due and says when the next run can
be due, so an idle server does not look at its runs every second."""

from __future__ import annotations

import threading

from airlock.engine import sweeper
from airlock.engine.events import Hub
from airlock.engine.sweeper import Sweeper
from airlock.store import crud


def make(db, expires_after: float = 600.0) -> Sweeper:
    return Sweeper(db.store, Hub(), db.store.files_dir, threading.Event(),
                   expires_after=expires_after)


def test_with_no_runs_the_next_sweep_is_the_safety_net(db):
    assert make(db).expire_runs() == sweeper.RUNS_AT_LEAST_EVERY_S


def test_a_short_expiry_setting_bounds_the_wait_for_runs_not_yet_created(db):
    assert make(db, expires_after=3.0).expire_runs() <= 3.0


def test_the_next_sweep_is_due_when_the_earliest_run_can_expire(db):
    db.run("requires_action", expires_at=crud.now() + 10)
    db.run("in_progress", thread_id=db.thread(), expires_at=crud.now() + 20)
    assert sweeper.RUNS_EVERY_S <= make(db).expire_runs() <= 10.0


def test_a_run_past_due_in_progress_keeps_the_sweeps_at_their_shortest(db):
    """It cannot expire while a worker has it, but may go to requires_action any moment."""
    run_id = db.run("in_progress", expires_at=crud.now() - 5)
    assert make(db).expire_runs() == sweeper.RUNS_EVERY_S
    assert db.row(run_id)["status"] == "in_progress"


def test_due_runs_expire_and_ended_ones_do_not_count(db):
    due = db.run("queued", expires_at=crud.now() - 1)
    db.run("completed", thread_id=db.thread(), expires_at=None)
    assert make(db).expire_runs() == sweeper.RUNS_AT_LEAST_EVERY_S
    assert db.row(due)["status"] == "expired"


def _container(db, idle_for: int, minutes: int = 1) -> tuple[str, str]:
    """A running container last active `idle_for` seconds ago, holding one file's blob."""
    import io

    from airlock.store import blobs, containers
    from airlock.store.records import ContainerFileRow, ContainerRow
    from airlock.store.tables import Container, ContainerFile

    db.store.files_dir.mkdir(parents=True, exist_ok=True)
    blob, size = blobs.write_blob(db.store.files_dir, io.BytesIO(b"data"))
    cid = f"cntr_{idle_for}"
    with db.store.begin() as conn:
        crud.add(conn, Container, ContainerRow(
            id=cid, created_at=crud.now() - idle_for, name="c", status=containers.RUNNING,
            expires_minutes=minutes, last_active_at=crud.now() - idle_for, memory_limit="1g"))
        crud.add(conn, ContainerFile, ContainerFileRow(
            id=f"cfile_{idle_for}", container_id=cid, created_at=crud.now(), bytes=size,
            container_path="/mnt/data/x.txt", source="user", blob=blob))
    return cid, blob


def test_an_idle_container_reads_expired_and_the_sweep_frees_it(db):
    from airlock.store import containers
    from airlock.store.tables import Container, ContainerFile

    idle, idle_blob = _container(db, idle_for=90)
    busy, busy_blob = _container(db, idle_for=10)
    with db.store.read_conn() as conn:
        rows = {c: crud.to_object(Container, crud.find(conn, Container, c)) for c in (idle, busy)}
    assert containers.status_now(rows[idle]) == "expired"  # at once, before any sweep
    assert containers.status_now(rows[busy]) == "running"
    stopped: list[str] = []
    s = make(db)
    s.on_container_expired = stopped.append
    s.purge_files()
    assert stopped == [idle]  # its kernel stops
    with db.store.read_conn() as conn:
        assert crud.find(conn, Container, idle).status == "expired"
        assert crud.find(conn, ContainerFile, f"cfile_{90}") is None
        assert crud.find(conn, ContainerFile, f"cfile_{10}") is not None
    assert not (db.store.files_dir / idle_blob).exists()
    assert (db.store.files_dir / busy_blob).exists()
    # Start-up's orphan sweep keeps the bytes of the files containers still hold.
    s.remove_orphans()
    assert (db.store.files_dir / busy_blob).exists()
