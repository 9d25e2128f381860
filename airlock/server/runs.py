"""/v1/threads/{thread_id}/runs and /v1/threads/runs: create, read, update, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from airlock.engine import runs
from airlock.engine.store import Store, crud
from airlock.engine.store.tables import Run
from airlock.engine.service import Engine
from airlock.server.deps import engine, settings, store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, list_page
from airlock.server.streams import run_events, sse_response
from airlock.server.wire.common import dump, dump_fields
from airlock.server.wire.objects import render, render_all, render_step
from airlock.server.wire.requests import (
    MetadataUpdate, RunCreate, SubmitToolOutputs, ThreadAndRunCreate,
)
from airlock.settings import Settings

router = APIRouter(prefix="/v1/threads/{thread_id}/runs")
# POST /v1/threads/runs must be matched before POST /v1/threads/{thread_id}.
thread_and_run = APIRouter(prefix="/v1/threads/runs")
KIND = runs.KIND
# include[] (or include) on run create and step reads: file_search result content in steps.
Include = Query(None, alias="include[]")


def _opening(run: dict) -> list[tuple[str, str, dict]]:
    return [("thread.run.created", "run", run), ("thread.run.queued", "run", run)]


@router.post("")
async def create_run(
    thread_id: str, body: RunCreate, include: list[str] | None = Include,
    eng: Engine = Depends(engine),
) -> Response:
    # Validation and the write happen first: errors are plain JSON, before any stream starts.
    fields = dump_fields(body)
    if include:
        fields["include"] = include
    run, feed = await eng.create_run(thread_id, fields, watch=bool(body.stream))
    if feed is None:
        return WireJSON(render("run", run))
    return sse_response(run_events(feed, _opening(run), include))


@thread_and_run.post("")
async def create_thread_and_run(body: ThreadAndRunCreate, eng: Engine = Depends(engine)) -> Response:
    thread, run, feed = await eng.create_thread_and_run(dump_fields(body), watch=bool(body.stream))
    if feed is None:
        return WireJSON(render("run", run))
    return sse_response(run_events(feed, [("thread.created", "thread", thread), *_opening(run)]))


@router.post("/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    thread_id: str, run_id: str, body: SubmitToolOutputs, eng: Engine = Depends(engine)
) -> Response:
    run, feed = await eng.submit_tool_outputs(thread_id, run_id, dump(body.tool_outputs),
                                              watch=bool(body.stream))
    if feed is None:
        return WireJSON(render("run", run))
    return sse_response(run_events(feed, [], run["params"].get("include")))


@router.post("/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, eng: Engine = Depends(engine)) -> WireJSON:
    return WireJSON(render("run", await eng.cancel(thread_id, run_id)))


@router.get("/{run_id}")
async def retrieve_run(
    thread_id: str, run_id: str, db: Store = Depends(store), cfg: Settings = Depends(settings)
) -> WireJSON:
    row = await db.read(crud.get_in_thread, Run, KIND, run_id, thread_id)
    # The SDK's poll helpers sleep this long between GETs; without it they wait a full second.
    return WireJSON(render("run", row), headers={"openai-poll-after-ms": str(cfg.poll_after_ms)})


@router.post("/{run_id}")
async def update_run(
    thread_id: str, run_id: str, body: MetadataUpdate, db: Store = Depends(store)
) -> WireJSON:
    row = await db.write(crud.update_in_thread, Run, KIND, run_id, thread_id, dump_fields(body))
    return WireJSON(render("run", row))


@router.get("")
async def list_runs(
    thread_id: str, page=Depends(page_params()), db: Store = Depends(store)
) -> WireJSON:
    rows, more = await db.read(crud.page_in_thread, Run, page, thread_id)
    return list_page(render_all("run", rows), more)


@router.get("/{run_id}/steps/{step_id}")
async def retrieve_step(
    thread_id: str, run_id: str, step_id: str, include: list[str] | None = Include,
    db: Store = Depends(store),
) -> WireJSON:
    return WireJSON(render_step(await db.read(runs.get_step, thread_id, run_id, step_id), include))


@router.get("/{run_id}/steps")
async def list_steps(
    thread_id: str, run_id: str, include: list[str] | None = Include,
    page=Depends(page_params()), db: Store = Depends(store),
) -> WireJSON:
    rows, more = await db.read(runs.page_steps, thread_id, run_id, page)
    return list_page([render_step(r, include) for r in rows], more)
