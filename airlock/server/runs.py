"""/v1/threads/{thread_id}/runs: the read side (execution lands with the run engine)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Run, RunStep, Thread
from airlock.server.deps import settings, store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, list_page
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.requests import MetadataUpdate
from airlock.settings import Settings

router = APIRouter(prefix="/v1/threads/{thread_id}/runs")


def _polled(body: dict, cfg: Settings) -> WireJSON:
    # The SDK's poll helpers sleep for this long between GETs; the default would be 1 s.
    return WireJSON(body, headers={"openai-poll-after-ms": str(cfg.poll_after_ms)})


@router.get("/{run_id}")
def retrieve_run(
    thread_id: str, run_id: str, db: Store = Depends(store), cfg: Settings = Depends(settings)
) -> WireJSON:
    with db.read() as conn:
        crud.get(conn, Thread, "thread", thread_id)
        row = crud.get(conn, Run, "run", run_id, thread_id=thread_id)
    return _polled(render("run", row), cfg)


@router.post("/{run_id}")
def update_run(
    thread_id: str, run_id: str, body: MetadataUpdate, db: Store = Depends(store)
) -> WireJSON:
    with db.begin() as conn:
        crud.get(conn, Thread, "thread", thread_id)
        crud.get(conn, Run, "run", run_id, thread_id=thread_id)
        if "metadata" in body.model_fields_set:
            crud.change(conn, Run, run_id, {"metadata": body.metadata or {}})
        row = crud.get(conn, Run, "run", run_id)
    return WireJSON(render("run", row))


@router.get("")
def list_runs(thread_id: str, page=Depends(page_params()), db: Store = Depends(store)) -> WireJSON:
    with db.read() as conn:
        crud.get(conn, Thread, "thread", thread_id)
        rows, more = crud.page(conn, Run, page, thread_id=thread_id)
    return list_page(render_all("run", rows), more)


@router.get("/{run_id}/steps/{step_id}")
def retrieve_step(
    thread_id: str,
    run_id: str,
    step_id: str,
    include: list[str] | None = Query(None, alias="include[]"),
    db: Store = Depends(store),
) -> WireJSON:
    with db.read() as conn:
        crud.get(conn, Run, "run", run_id, thread_id=thread_id)
        row = crud.get(conn, RunStep, "run step", step_id, run_id=run_id)
    return WireJSON(render("step", row))


@router.get("/{run_id}/steps")
def list_steps(
    thread_id: str,
    run_id: str,
    include: list[str] | None = Query(None, alias="include[]"),
    page=Depends(page_params()),
    db: Store = Depends(store),
) -> WireJSON:
    with db.read() as conn:
        crud.get(conn, Run, "run", run_id, thread_id=thread_id)
        rows, more = crud.page(conn, RunStep, page, run_id=run_id)
    return list_page(render_all("step", rows), more)
