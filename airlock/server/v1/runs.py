"""Assistants v1: runs and their steps, streamed or not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from fastapi import APIRouter, Depends
from starlette.responses import Response

from airlock.server.deps import services, settings
from airlock.server.json_response import WireJSON, list_page
from airlock.server.pagination import page_params
from airlock.server.sse import run_events, sse_response
from airlock.server.v1 import translate
from airlock.server.v1.stream import V1View
from airlock.server.versions import V1_PREFIX, routed_from_v1_header
from airlock.server.wire import v1_objects as v1
from airlock.server.wire.common import dump, dump_fields
from airlock.server.wire.requests import MetadataUpdate, SubmitToolOutputs
from airlock.server.wire.v1_requests import RunCreate, ThreadAndRunCreate
from airlock.service import PageParams, Services
from airlock.service import commands as cmd
from airlock.settings import Settings

_depends = [Depends(routed_from_v1_header)]
router = APIRouter(prefix=V1_PREFIX + "/v1/threads/{thread_id}/runs", include_in_schema=False,
                   dependencies=_depends)
thread_and_run = APIRouter(prefix=V1_PREFIX + "/v1/threads/runs", include_in_schema=False,
                           dependencies=_depends)


async def _rendered(svc: Services, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Runs with their assistants' v1 files (the files a v1 run could use)."""
    file_ids = await svc.assistant_files.file_ids_by_id([r["assistant_id"] for r in rows])
    return [v1.run(row, file_ids[row["assistant_id"]]) for row in rows]


async def _view(svc: Services, run: Mapping[str, Any]) -> V1View:
    return V1View((await svc.assistant_files.file_ids_by_id([run["assistant_id"]]))[
        run["assistant_id"]])


def _opening(run: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    return [("thread.run.created", "run", run), ("thread.run.queued", "run", run)]


@router.post("")
async def create_run(thread_id: str, body: RunCreate,
                     svc: Services = Depends(services)) -> Response:
    run, feed = await svc.runs.create(thread_id, cast(cmd.RunFields, translate.run(dump_fields(body))),
                                      watch=bool(body.stream))
    if feed is None:
        return WireJSON((await _rendered(svc, [run]))[0])
    return sse_response(run_events(feed, _opening(run), await _view(svc, run)))


@thread_and_run.post("")
async def create_thread_and_run(body: ThreadAndRunCreate,
                                svc: Services = Depends(services)) -> Response:
    thread, run, feed = await svc.runs.create_thread_and_run(
        cast(cmd.RunFields, translate.run(dump_fields(body))), watch=bool(body.stream))
    if feed is None:
        return WireJSON((await _rendered(svc, [run]))[0])
    opening = [("thread.created", "thread", thread), *_opening(run)]
    return sse_response(run_events(feed, opening, await _view(svc, run)))


@router.post("/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(thread_id: str, run_id: str, body: SubmitToolOutputs,
                              svc: Services = Depends(services)) -> Response:
    run, feed = await svc.runs.submit_tool_outputs(thread_id, run_id, dump(body.tool_outputs),
                                                   watch=bool(body.stream))
    if feed is None:
        return WireJSON((await _rendered(svc, [run]))[0])
    return sse_response(run_events(feed, [], await _view(svc, run)))


@router.post("/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON((await _rendered(svc, [await svc.runs.cancel(thread_id, run_id)]))[0])


@router.get("/{run_id}")
async def retrieve_run(thread_id: str, run_id: str, svc: Services = Depends(services),
                       cfg: Settings = Depends(settings)) -> WireJSON:
    run = (await _rendered(svc, [await svc.runs.retrieve(thread_id, run_id)]))[0]
    return WireJSON(run, headers={"openai-poll-after-ms": str(cfg.poll_after_ms)})


@router.post("/{run_id}")
async def update_run(thread_id: str, run_id: str, body: MetadataUpdate,
                     svc: Services = Depends(services)) -> WireJSON:
    run = await svc.runs.update(thread_id, run_id, cast(cmd.MetadataFields, dump_fields(body)))
    return WireJSON((await _rendered(svc, [run]))[0])


@router.get("")
async def list_runs(thread_id: str, page: PageParams = Depends(page_params()),
                    svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.runs.page(thread_id, page)
    return list_page(await _rendered(svc, rows), more)


@router.get("/{run_id}/steps/{step_id}")
async def retrieve_step(thread_id: str, run_id: str, step_id: str,
                        svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(v1.step(await svc.runs.retrieve_step(thread_id, run_id, step_id)))


@router.get("/{run_id}/steps")
async def list_steps(thread_id: str, run_id: str, page: PageParams = Depends(page_params()),
                     svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.runs.page_steps(thread_id, run_id, page)
    return list_page([v1.step(r) for r in rows], more)
