"""Runs and their steps as stored; execution is the run engine's (scheduler, turns)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from airlock.engine.store import crud
from airlock.engine.store.tables import Run, RunStep

KIND = "run"
STEP_KIND = "run step"


def get_step(conn: Connection, thread_id: str, run_id: str, step_id: str) -> dict[str, Any]:
    crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    return crud.get(conn, RunStep, STEP_KIND, step_id, run_id=run_id)


def page_steps(
    conn: Connection, thread_id: str, run_id: str, params: crud.PageParams
) -> tuple[list[dict[str, Any]], bool]:
    crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    return crud.page(conn, RunStep, params, run_id=run_id)
