"""Background responses: queued in the store, run by whichever replica's model worker claims
them, followed by polling or by streaming their stored event log.

`create` checks the request as a foreground response would (its 404s and 400s come at once),
then stores it queued (engine.response_state) and wakes the workers. The worker that claims it
runs the same turn as a foreground response (`Responses.turn`), appending its stream's events to
the log as it goes, a few at a time, and settling it in one transaction with its items. `follow`
replays the log from any point and then goes live: the hub (and, across replicas, the bus)
tells it of new events; the log is the truth it reads whenever the hub's events leave a gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from sqlalchemy import Connection

from airlock.engine import response_state
from airlock.engine.events import Watch
from airlock.engine.response_events import ResponseEvents
from airlock.engine.response_state import Claimed
from airlock.engine.scheduler import publish_response
from airlock.errors import AirlockError, InvalidRequest
from airlock.service.context import Context
from airlock.service.response_commands import (
    ResponseCommand,
    ResponseEvent,
    TextDelta,
    command_json,
    command_of,
    wire_events,
)
from airlock.service.response_context import response_not_found
from airlock.service.response_objects import new_object
from airlock.service.responses import (
    Plan,
    Responses,
    conversation_busy,
    error_message,
    final_object,
    save_items,
)
from airlock.store.ids import new_id
from airlock.store.records import JsonObject

log = logging.getLogger("airlock.service")
# How long the worker gathers text events before storing them: each store is a transaction,
# and a watcher sees nothing until it commits.
FLUSH_S = 0.05
# How long a follower waits for the hub before reading the log anyway: a peer's notification
# can be lost (the bus is not durable), the log cannot.
RECHECK_S = 2.0
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class BackgroundResponses:
    def __init__(self, ctx: Context, responses: Responses):
        self.ctx, self.responses = ctx, responses
        ctx.background.scheduler.respond = self._run

    async def create(self, cmd: ResponseCommand) -> JsonObject:
        """The response, queued; a model worker takes it up."""
        if not cmd.store:
            raise InvalidRequest("Background responses must be stored: 'store' must be true.",
                                 param="store")
        plan = await self.responses.prepare(cmd)
        conversation = plan.cmd.conversation_id
        if conversation is not None and self.responses.is_busy(conversation):
            raise conversation_busy(conversation)
        body = new_object(plan.cmd, new_id("response"), cmd.model or plan.entry.name)
        body.update(status="queued", background=True)
        # The prompt is applied once, here: the worker runs the command as it was resolved.
        stored = command_json(replace(plan.cmd, prompt_id=None))
        code = plan.spec.code_interpreter
        await self.ctx.store.write(_enqueue, body, stored, plan.entry.name,
                                   code.kernel if code else None)
        self.ctx.background.scheduler.wake(plan.entry.name)
        return body

    async def cancel(self, response_id: str) -> JsonObject:
        """Ends a queued or running background response `cancelled` (its worker stops within a
        token, here or on a peer); cancelling again returns it as it is."""
        background = await self.ctx.store.read(response_state.is_background, response_id)
        if background is None:
            raise response_not_found(response_id)
        if not background:
            raise InvalidRequest("Only responses created with background=true can be "
                                 "cancelled.", param="response_id")
        ended = await self.ctx.store.write(response_state.end, response_id, "cancelled")
        if ended is None:
            current = await self.responses.retrieve(response_id)
            if current["status"] != "cancelled":
                raise InvalidRequest(f"Cannot cancel a response that is {current['status']}.",
                                     param="response_id")
            return current
        final, events = ended
        publish_response(self.ctx.background.hub, response_id, events)
        self.ctx.background.scheduler.request_stop(response_id)
        return final

    async def follow(self, response_id: str, after: int | None
                     ) -> AsyncIterator[JsonObject]:
        """The response's stream from the event after `after` (from the start without it),
        live until its terminal event. Raises before the first event if it cannot be
        streamed."""
        background = await self.ctx.store.read(response_state.is_background, response_id)
        if background is None:
            raise response_not_found(response_id)
        if not background:
            raise InvalidRequest("This response was not created with background=true: only "
                                 "background responses can be streamed again.",
                                 param="stream")
        return self._follow(response_id, -1 if after is None else after)

    async def _follow(self, response_id: str, last: int) -> AsyncIterator[JsonObject]:
        # Watching before the first read: an event stored after that read is heard of.
        watch = Watch(self.ctx.background.hub, response_id)
        try:
            fresh = await self.ctx.store.read(response_state.events_after, response_id, last)
            while True:
                for event in fresh:
                    yield event
                    last = int(event["sequence_number"])  # type: ignore[arg-type]
                    if event["type"] in TERMINAL:
                        return
                fresh = await self._next(watch, response_id, last)
                if not fresh and not await self.ctx.store.read(
                        response_state.is_active, response_id):
                    return  # deleted, or asked for events after its last one
        finally:
            watch.close()

    async def _next(self, watch: Watch, response_id: str, last: int) -> list[JsonObject]:
        """The events after `last`: those the hub delivered when they follow on without a gap,
        else (a gap, or nothing heard for a while) what the log holds."""
        try:
            heard = [(await asyncio.wait_for(watch.next(), RECHECK_S))[1]]
        except TimeoutError:
            heard = []
        while not watch.queue.empty():
            heard.append(watch.queue.get_nowait()[1])
        events = [e for e in heard if int(e["sequence_number"]) > last]  # type: ignore
        if events and all(int(e["sequence_number"]) == last + 1 + i  # type: ignore
                          for i, e in enumerate(events)):
            return events  # type: ignore[return-value]
        return await self.ctx.store.read(response_state.events_after, response_id, last)

    # --- the worker's side (a model worker's thread) -------------------------------------------

    def _run(self, claimed: Claimed, should_stop: Callable[[], bool]) -> None:
        """Runs a claimed response to its end: its events stored as they come, then the final
        object with its items, unless a cancel (or a peer reaping its lease) ended it first."""
        Run(self, claimed, should_stop).execute()


class Run:
    """One claimed background response on the worker's thread."""

    def __init__(self, owner: BackgroundResponses, claimed: Claimed,
                 should_stop: Callable[[], bool]):
        self.ctx, self.responses = owner.ctx, owner.responses
        self.claimed, self.should_stop = claimed, should_stop
        self.id = claimed.id
        with self.ctx.store.read_conn() as conn:
            self.stream = ResponseEvents.restore(response_state.events_after(conn, self.id, -1))
        self.pending: list[JsonObject] = []
        self.flushed = time.monotonic()
        self.ended_elsewhere = False

    def execute(self) -> None:
        cmd = command_of(self.claimed.command)
        body = self.claimed.body
        try:
            with self.ctx.store.read_conn() as conn:
                plan = self.responses.plan(conn, cmd)
            plan.spec.kv_key = plan.spec.kv_key or self.id
            sink = self.responses.sink(self._event, plan)
            outcome = self.responses.turn(
                plan.entry, plan.spec, sink,
                lambda: self.ended_elsewhere or self.should_stop(), self.id)
        except AirlockError as exc:
            # Checked at create, but the store may have changed since (a deleted previous
            # response), or the prompt grew too long: the response fails, saying why.
            self._settle(None, response_state.closed(body, "failed",
                                                     error=error_message(exc)))
            return
        self._flush()
        if self.ended_elsewhere or outcome.ending == "cancelled":
            # Cancelled (the cancel wrote its ending), or the server is stopping: a restart
            # ends it failed, as a run's.
            return
        self._settle(plan, final_object(cmd, body, outcome, sink))

    def _event(self, event: ResponseEvent) -> None:
        self.pending += wire_events(self.stream, event)
        # Text is gathered for FLUSH_S; a built-in call's progress is stored at once.
        if not isinstance(event, TextDelta) or time.monotonic() - self.flushed >= FLUSH_S:
            self._flush()

    def _flush(self) -> None:
        self.flushed = time.monotonic()
        if not self.pending or self.ended_elsewhere:
            return
        events, self.pending = self.pending, []
        # Not durable: a crash ends the response failed anyway; its ending is durable.
        with self.ctx.store.begin(durable=False) as conn:
            stored = response_state.append(conn, self.id, events)
        if stored:
            publish_response(self.ctx.background.hub, self.id, events)
        else:
            self.ended_elsewhere = True

    def _settle(self, plan: Plan | None, final: JsonObject) -> None:
        events = self.stream.finish(final)
        with self.ctx.store.begin() as conn:
            settled = response_state.settle(conn, final, events)
            if settled and plan is not None:
                save_items(conn, plan, final)
        if settled:
            publish_response(self.ctx.background.hub, self.id, events)


def _enqueue(conn: Connection, body: JsonObject, command: JsonObject, backend: str,
             kernel: str | None) -> None:
    response_state.enqueue(conn, body, command, backend, kernel)
    conversation = body.get("conversation")
    # Checked after the insert, in its transaction: of two at once, one sees the other.
    if isinstance(conversation, dict) and response_state.active_in(
            conn, str(conversation["id"])) > 1:
        raise conversation_busy(str(conversation["id"]))
