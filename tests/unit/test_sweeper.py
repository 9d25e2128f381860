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
