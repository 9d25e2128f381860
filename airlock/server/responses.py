"""/v1/responses"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.responses import StreamingResponse

from airlock.errors import AirlockError, InvalidRequest
from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.responses_request import to_command, to_count_command
from airlock.server.wire.conversations import include_param, item_view
from airlock.server.wire.responses import InputTokensCount, ResponseCreate
from airlock.service import PageParams, Services
from airlock.service.response_commands import (
    JsonObject,
    ResponseEvent,
    ResponseEvents,
    wire_events,
)

router = APIRouter(prefix="/v1/responses")


@router.post("")
async def create_response(body: ResponseCreate | None = None,
                          svc: Services = Depends(services)) -> Any:
    body = body or ResponseCreate()
    cmd = to_command(body)
    if cmd.background:
        queued = await svc.background_responses.create(cmd)
        if not body.stream:
            return WireJSON(queued)
        return _event_stream(_replay(await svc.background_responses.follow(
            str(queued["id"]), None)))
    if not body.stream:
        return WireJSON(await svc.responses.create(cmd))
    # Errors found before the turn starts (an unknown previous response, a prompt too long)
    # are plain JSON errors; a failure later is the stream's response.failed.
    response, events = await svc.responses.stream(cmd)
    return _event_stream(_sse(response, events))


def _event_stream(frames: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _sse(response: dict[str, Any], events: AsyncIterator[ResponseEvent]
               ) -> AsyncIterator[bytes]:
    stream = ResponseEvents()
    for e in stream.start(response):
        yield _frame(e)
    try:
        async for event in events:
            for e in wire_events(stream, event):
                yield _frame(e)
    except AirlockError as exc:
        yield _frame({"type": "error", "sequence_number": stream.seq, "code": exc.code,
                      "message": exc.message, "param": exc.param})
    yield b"data: [DONE]\n\n"


async def _replay(events: AsyncIterator[JsonObject]) -> AsyncIterator[bytes]:
    """A background response's stored events, then its live ones: the client leaving stops
    only this stream, never the response."""
    async for event in events:
        yield _frame(event)
    yield b"data: [DONE]\n\n"


def _frame(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


@router.post("/input_tokens")
async def count_input_tokens(body: InputTokensCount | None = None,
                             svc: Services = Depends(services)) -> WireJSON:
    cmd = to_count_command(body or InputTokensCount())
    count = await svc.responses.count_input_tokens(cmd)
    return WireJSON({"object": "response.input_tokens", "input_tokens": count})


@router.post("/compact")
async def compact_responses() -> WireJSON:
    # Named, so a client (the Agents SDK's compaction session) hears why, not "Invalid URL".
    raise InvalidRequest("Compaction (POST /v1/responses/compact) is not supported by this "
                         "server yet: send truncation 'auto' to drop the oldest items instead.")


@router.get("/{response_id}")
async def retrieve_response(response_id: str, stream: bool | None = None,
                            starting_after: int | None = None,
                            include: list[str] = Depends(include_param),
                            svc: Services = Depends(services)) -> Any:
    if stream:
        # Replayed from the stored log (all of it, or after `starting_after`), then live.
        return _event_stream(_replay(await svc.background_responses.follow(
            response_id, starting_after)))
    return WireJSON(await svc.responses.retrieve(response_id))


@router.delete("/{response_id}")
async def delete_response(response_id: str, svc: Services = Depends(services)) -> WireJSON:
    await svc.responses.delete(response_id)
    return deleted(response_id, "response.deleted")


@router.post("/{response_id}/cancel")
async def cancel_response(response_id: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(await svc.background_responses.cancel(response_id))


@router.get("/{response_id}/input_items")
async def list_input_items(response_id: str,
                           params: PageParams = Depends(page_params()),
                           include: list[str] = Depends(include_param),
                           svc: Services = Depends(services)) -> WireJSON:
    items, more = await svc.responses.input_items(response_id, params)
    return list_page([item_view(i, include) for i in items], more)
