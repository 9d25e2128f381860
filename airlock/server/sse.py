"""Server-Sent Events for runs, in the event order of docs/wire/streaming.md, rendered from
stored snapshots.

Every event but `thread.message.delta` carries an object as the store holds it (the engine
publishes right after each write), so a stream shows what a GET returns. A client that goes away
only closes its feed: the run goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from airlock.server.wire.objects import render, render_step, without_quotes
from airlock.service import STREAM_ENDS, Feed

_DONE = b"event: done\ndata: [DONE]\n\n"


def event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _kind(name: str) -> str:
    if name.startswith("thread.run.step."):
        return "step"
    if name.startswith("thread.run."):
        return "run"
    if name.startswith("thread.message."):
        return "message"
    return "thread"


class View:
    """How a stream shows the run's stored rows and the engine's deltas: the v2 shapes.
    `include`: the include[] the run was created with (file_search result content)."""

    def __init__(self, include: list[str] | None = None):
        self.include = include

    def name(self, event: str) -> str:
        return event

    def obj(self, kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return render_step(row, self.include) if kind == "step" else render(kind, row)

    def step_delta(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return dict(data)  # already in wire shape: index and identity fields set

    def annotations(self, annotations: Sequence[Mapping[str, Any]]
                    ) -> Sequence[Mapping[str, Any]]:
        return without_quotes(annotations)


def _text_delta(view: View, data: Mapping[str, Any], first: bool) -> dict[str, Any]:
    text: dict[str, Any] = {"value": data["value"]}
    if data.get("annotations"):
        # each index once, as the SDKs require
        text["annotations"] = view.annotations(data["annotations"])
    elif first:
        text["annotations"] = []  # only once: the SDKs concatenate what repeats
    return {"id": data["id"], "object": "thread.message.delta",
            "delta": {"content": [{"index": 0, "type": "text", "text": text}]}}


async def run_events(feed: Feed, opening: Sequence[tuple[str, str, Mapping[str, Any]]],
                     view: View) -> AsyncIterator[bytes]:
    """`opening`: (event name, object kind, row) sent before the feed, e.g. run.created."""
    started: set[str] = set()
    try:
        for name, kind, row in opening:
            yield event(view.name(name), view.obj(kind, row))
        while True:
            name, event_data = await feed.next()
            # Rendered by its name: an object (run, message, step) or a delta of one.
            data: Mapping[str, Any] = event_data
            if name == "thread.message.delta":
                if "part" in data:  # a non-text part (a code image), at its own index
                    yield event(name, {"id": data["id"], "object": "thread.message.delta",
                                       "delta": {"content": [{"index": data["index"],
                                                              **data["part"]}]}})
                    continue
                yield event(name, _text_delta(view, data, data["id"] not in started))
                started.add(data["id"])
                continue
            if name == "thread.run.step.delta":
                yield event(name, view.step_delta(data))
                continue
            yield event(view.name(name), view.obj(_kind(name), data))
            if name in STREAM_ENDS:
                if name == "thread.run.failed":
                    error = data.get("last_error") or {}
                    yield event("error", {"error": {
                        "message": error.get("message", "The run failed."),
                        "type": "server_error", "param": None,
                        "code": error.get("code", "server_error")}})
                break
        yield _DONE
    finally:
        feed.close()


def sse_response(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
