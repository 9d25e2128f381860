"""Run events as they happen, for whoever watches a run (streams, tests, logs).

The store holds the truth; events only tell a watcher that it changed and carry token deltas
between store writes. Publishing is thread-safe (workers publish from their own threads);
subscribers are asyncio queues on the server's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Required, TypedDict

from airlock.store.records import (
    ContentPart,
    JsonObject,
    JsonValue,
    MessageRow,
    RunRow,
    StepRow,
    TextAnnotation,
)


class MessageDelta(TypedDict, total=False):
    """thread.message.delta: text and its annotations, or a non-text part at its index."""

    id: Required[str]
    value: str
    annotations: list[TextAnnotation]
    index: int
    part: ContentPart


class ToolCallDelta(TypedDict, total=False):
    index: int  # set by rounds.steps.call_delta
    id: str
    type: str
    function: JsonObject
    file_search: JsonObject
    code_interpreter: JsonObject


class StepDetailsDelta(TypedDict):
    type: str
    tool_calls: list[ToolCallDelta]


class StepDeltaBody(TypedDict):
    step_details: StepDetailsDelta


class StepDelta(TypedDict):
    """thread.run.step.delta: a tool call's progress."""

    id: str
    object: str
    delta: StepDeltaBody


# An event's data: the object as it now is (run, message, step), or a delta; a background
# response's events are its stream's, as stored (engine.response_state).
EventData = RunRow | MessageRow | StepRow | MessageDelta | StepDelta | dict[str, "JsonValue"]
Event = tuple[str, EventData]
Feed = asyncio.Queue[Event]
ALL = "*"


Forward = Callable[[str, str, EventData], None]


class Hub:
    """`forward`, when several replicas share the store: also sends each published event to the
    other replicas (engine.cluster), whose listeners hand it to `deliver` on their own hub."""

    def __init__(self, forward: Forward | None = None) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, list[tuple[asyncio.AbstractEventLoop, Feed]]] = defaultdict(list)
        self.forward = forward

    def subscribe(self, run_id: str) -> Feed:
        """Events of one run, or of every run with `run_id="*"`; items are (name, data)."""
        queue: Feed = asyncio.Queue()
        with self._lock:
            self._subs[run_id].append((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, run_id: str, queue: Feed) -> None:
        with self._lock:
            subs = [s for s in self._subs.get(run_id, []) if s[1] is not queue]
            if subs:
                self._subs[run_id] = subs
            else:
                self._subs.pop(run_id, None)

    def publish_all(self, run_id: str, events: list[Event]) -> None:
        for name, data in events:
            self.publish(run_id, name, data)

    def publish(self, run_id: str, name: str, data: EventData) -> None:
        self.deliver(run_id, name, data)
        if self.forward is not None:
            self.forward(run_id, name, data)

    def deliver(self, run_id: str, name: str, data: EventData) -> None:
        """Hands an event to this process's watchers only."""
        with self._lock:
            subs = [*self._subs.get(run_id, ()), *self._subs.get(ALL, ())]
        for loop, queue in subs:
            # A closed loop means the watcher is gone; the run goes on regardless.
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, (name, data))


class Watch:
    """One watcher's feed of a run's events; close it when done (the run goes on regardless)."""

    def __init__(self, hub: Hub, run_id: str):
        self.hub, self.run_id = hub, run_id
        self.queue = hub.subscribe(run_id)

    async def next(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self.hub.unsubscribe(self.run_id, self.queue)
