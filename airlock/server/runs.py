"""/v1/threads/{thread_id}/runs and /v1/threads/runs: create (streamed or not), read, update,
submit tool outputs, cancel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from airlock.server.deps import services, settings
from airlock.server.json_response import WireJSON, list_page
from airlock.server.pagination import page_params
from airlock.server.sse import View, run_events, sse_response
from airlock.server.wire.common import dump, dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.requests import (
    MetadataUpdate,
    RunCreate,
    SubmitToolOutputs,
    ThreadAndRunCreate,
)
from airlock.service import PageParams, Services
from airlock.service import commands as cmd
from airlock.settings import Settings

router = APIRouter(prefix="/v1/threads/{thread_id}/runs")
thread_and_run = APIRouter(prefix="/v1/threads/runs")
# include[] on run create and step reads: file_search result content in steps.
Include = Query(None, alias="include[]")


def _opening(run: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    return [("thread.run.created", "run", run), ("thread.run.queued", "run", run)]


@router.post("")
async def create_run(thread_id: str, body: RunCreate, include: list[str] | None = Include,
                     svc: Services = Depends(services)) -> Response:
    # Validation and the write happen first: errors are plain JSON, before any stream starts.
    fields = dump_fields(body)
    if include:
        fields["include"] = include
    run, feed = await svc.runs.create(thread_id, cast(cmd.RunFields, fields), watch=bool(body.stream))
    if feed is None:
        return WireJSON(render("run", run))
    return sse_response(run_events(feed, _opening(run), View(include)))


@thread_and_run.post("")
async def create_thread_and_run(body: ThreadAndRunCreate,
                                svc: Services = Depends(services)) -> Response:
    thread, run, feed = await svc.runs.create_thread_and_run(cast(cmd.RunFields, dump_fields(body)),
                                                             watch=bool(body.stream))
    if feed is None:
        return WireJSON(render("run", run))
    return sse_response(run_events(feed, [("thread.created", "thread", thread), *_opening(run)],
                                   View()))


@router.post("/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(thread_id: str, run_id: str, body: SubmitToolOutputs,
                              svc: Services = Depends(services)) -> Response:
    run, feed = await svc.runs.submit_tool_outputs(thread_id, run_id, dump(body.tool_outputs),
                                                   watch=bool(body.stream))
    if feed is None:
        return WireJSON(render("run", run))
    return sse_response(run_events(feed, [], View(svc.runs.include_of(run))))


@router.post("/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render("run", await svc.runs.cancel(thread_id, run_id)))


@router.get("/{run_id}")
async def retrieve_run(thread_id: str, run_id: str, svc: Services = Depends(services),
                       cfg: Settings = Depends(settings)) -> WireJSON:
    run = await svc.runs.retrieve(thread_id, run_id)
    # The SDK's poll helpers sleep this long between GETs; without it they wait a full second.
    return WireJSON(render("run", run), headers={"openai-poll-after-ms": str(cfg.poll_after_ms)})


@router.post("/{run_id}")
async def update_run(thread_id: str, run_id: str, body: MetadataUpdate,
                     svc: Services = Depends(services)) -> WireJSON:
    command = cast(cmd.MetadataFields, dump_fields(body))
    return WireJSON(render("run", await svc.runs.update(thread_id, run_id, command)))


@router.get("")
async def list_runs(thread_id: str, page: PageParams = Depends(page_params()),
                    svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.runs.page(thread_id, page)
    return list_page(render_all("run", rows), more)
