"""/v1/threads/{thread_id}/runs/{run_id}/steps"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, list_page
from airlock.server.pagination import page_params
from airlock.server.runs import Include
from airlock.server.wire.objects import render_step
from airlock.service import PageParams, Services

router = APIRouter(prefix="/v1/threads/{thread_id}/runs/{run_id}/steps")


@router.get("/{step_id}")
async def retrieve_step(thread_id: str, run_id: str, step_id: str,
                        include: list[str] | None = Include,
                        svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render_step(await svc.runs.retrieve_step(thread_id, run_id, step_id), include))


@router.get("")
async def list_steps(thread_id: str, run_id: str, include: list[str] | None = Include,
                     page: PageParams = Depends(page_params()),
                     svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.runs.page_steps(thread_id, run_id, page)
    return list_page([render_step(r, include) for r in rows], more)
