"""Responses: one turn of the core per response, stored (store=true) with its items.

A response reads the items before it (its previous response's chain, or its conversation) and
its input; the turn runs on a thread of its own while the event loop streams what it decides,
sharing the model's worker with runs and chat through the backend's fair lock. A function call
ends the response `completed` with `function_call` items: the client answers in a new response.
When the turn ends, the response, its input and output items (and the conversation's new items)
are written in one transaction; a client that leaves mid-stream stops the turn and nothing of
it is stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert

from airlock.engine import response_state
from airlock.engine.core import prompt
from airlock.engine.core.builtins import Builtins
from airlock.engine.core.items import (
    CodeInterpreter,
    FileSearch,
    Item,
    Outcome,
    OutputFormat,
    TurnSpec,
)
from airlock.engine.core.turn import TurnCore
from airlock.errors import InvalidRequest, ServerError
from airlock.models.backend import Controls, ModelBackend
from airlock.models.registry import ModelEntry
from airlock.service import containers, conversations, response_prompts, turn_thread
from airlock.service.containers import Containers, NewContainer
from airlock.service.context import Context
from airlock.service.model_names import resolve_model
from airlock.service.paging import PageParams
from airlock.service.references import require_vector_store
from airlock.service.response_commands import Finished, ResponseCommand, ResponseEvent
from airlock.service.response_context import gather, new_items, response_not_found, to_core
from airlock.service.response_objects import Answer, finish, new_object, output_items
from airlock.service.response_sink import ResponseSink
from airlock.service.sampling import sampling
from airlock.service.turn_thread import DONE, Put, TurnThread
from airlock.store import crud
from airlock.store.ids import new_id
from airlock.store.records import ItemJson, JsonObject, ResponseItemRow, ResponseRow
from airlock.store.tables import Response, ResponseItem


@dataclass
class Plan:
    """A response's turn as it will run: the command (its prompt applied), the model, the
    core's spec, the input items as resolved, and the items its conversation gains."""

    cmd: ResponseCommand
    entry: ModelEntry
    spec: TurnSpec
    inputs: list[ItemJson]
    fresh: list[ItemJson]


class Responses:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        # Conversations with a response under way in this process: one at a time each, as a
        # thread has one active run (a second is a 400). Background responses are in the
        # store, where every replica sees them.
        self._busy: set[str] = set()
        self.containers = Containers(ctx)

    async def create(self, cmd: ResponseCommand) -> JsonObject:
        response, events = await self.stream(cmd)
        async for event in events:
            if isinstance(event, Finished):
                response = event.response
        return response

    async def stream(self, cmd: ResponseCommand
                     ) -> tuple[JsonObject, AsyncIterator[ResponseEvent]]:
        """The response as created (in_progress) and its events, the final object last. Raises
        (before any event) what makes the request fail as a whole: an unknown previous
        response or item, a prompt too long, a model that cannot load."""
        plan = await self.prepare(cmd)
        conversation = plan.cmd.conversation_id
        if conversation is not None:
            await self._claim_conversation(conversation)
        try:
            return await self._start(plan)
        except BaseException:
            self._busy.discard(conversation or "")
            raise

    def plan(self, conn: Connection, cmd: ResponseCommand) -> Plan:
        """Everything the turn needs, read and checked before it starts: the prompt's
        assistant applied, the model, the items before the input and the input resolved. Its
        404s and 400s come before anything is created."""
        cmd = response_prompts.apply(conn, cmd)
        entry = self.ctx.registry.get(resolve_model(self.ctx, cmd.model or ""))
        history, inputs, root = gather(conn, cmd)
        # Converted before anything starts: its 400s (an output without its call) come first.
        instructions, items = to_core(cmd.instructions, history + inputs)
        spec = _spec(cmd, entry, instructions, items, root)
        if cmd.file_search is not None:
            spec.file_search = _file_search(conn, cmd.file_search)
        code = cmd.code_interpreter
        if code is not None and "auto" in code:
            # The chain's or conversation's container goes on, while it runs; else `prepare`
            # makes one.
            container = containers.reusable(conn, history)
            if container is not None:
                cmd = dataclasses.replace(cmd, code_interpreter={"container": container})
                code = cmd.code_interpreter
        if code is not None and "container" in code:
            container = str(code["container"])
            containers.running(conn, container, param="tools")
            spec.code_interpreter = CodeInterpreter(container,
                                                    containers.input_files(conn, container))
        return Plan(cmd, entry, spec, inputs, new_items(cmd, history, inputs))

    async def prepare(self, cmd: ResponseCommand) -> Plan:
        """The plan, with a container made for `container: auto` when the chain or
        conversation has none running (its files copied in)."""
        plan = await self.ctx.store.read(self.plan, cmd)
        code = plan.cmd.code_interpreter
        if code is None or "auto" not in code:
            return plan
        auto: JsonObject = code["auto"]  # type: ignore[assignment]
        made = await self.containers.create(NewContainer(
            name=f"auto-{plan.spec.kv_key or 'response'}",
            file_ids=tuple(str(i) for i in auto["file_ids"]),  # type: ignore[union-attr]
            memory_limit=str(auto["memory_limit"])))
        explicit = dataclasses.replace(plan.cmd, code_interpreter={"container": made["id"]})
        return await self.ctx.store.read(self.plan, explicit)

    def sink(self, put: Callable[[ResponseEvent], None], plan: Plan) -> ResponseSink:
        """The adapter's side of the plan's turn: its events go to `put`."""
        spec, cmd = plan.spec, plan.cmd
        code = spec.code_interpreter
        keep = None if code is None else functools.partial(
            containers.keep_outputs, self.ctx.store, self.ctx.cfg.files_dir, code.kernel)
        return ResponseSink(put, new_id("message"), cmd.search_results,
                            spec.file_search is not None, code_outputs=cmd.code_outputs,
                            container_id=code.kernel if code else None, keep=keep)

    async def _claim_conversation(self, conversation: str) -> None:
        """One response at a time per conversation (as one active run per thread): one of this
        process's, or a background one of any replica's, makes a second a 400."""
        if conversation in self._busy or await self.ctx.store.read(
                response_state.active_in, conversation) > 0:
            raise conversation_busy(conversation)
        self._busy.add(conversation)

    def is_busy(self, conversation: str) -> bool:
        """Whether this process streams a response of `conversation` right now."""
        return conversation in self._busy

    async def _start(self, plan: Plan) -> tuple[JsonObject, AsyncIterator[ResponseEvent]]:
        cmd, entry, spec = plan.cmd, plan.entry, plan.spec
        response = new_object(cmd, new_id("response"), cmd.model or entry.name)
        spec.kv_key = spec.kv_key or str(response["id"])  # a new chain's key is its first id
        sink: ResponseSink | None = None

        def work(put: Put, should_stop: Callable[[], bool]) -> Outcome:
            nonlocal sink
            sink = self.sink(put, plan)
            return self.turn(entry, spec, sink, should_stop, str(response["id"]))

        turn = await turn_thread.start("airlock-response", work)
        assert sink is not None  # made before the turn's first event
        return response, self._events(plan, response, sink, turn)

    def turn(self, entry: ModelEntry, spec: TurnSpec, sink: ResponseSink,
             should_stop: Callable[[], bool], label: str) -> Outcome:
        """The core's turn on the model (blocking: a worker thread's), built-in rounds
        included."""
        try:
            backend = self.ctx.registry.backend(entry.name)
        except Exception as exc:
            raise ServerError(f"The model '{entry.name}' could not be loaded: {exc}") from exc
        toolbox = self.ctx.background.scheduler.toolbox
        builtins = Builtins(self.ctx.store, toolbox) if spec.builtins() else None
        outcome = TurnCore(backend, builtins, sink, should_stop, label=label,
                           embed=toolbox.embed).run(spec)
        if outcome.ending == "too_long":
            raise InvalidRequest(
                f"Your input exceeds the context window of this model ({backend.n_ctx} "
                f"tokens): it needs {outcome.tokens}. Shorten the input, or send "
                "truncation 'auto' to drop the oldest items.", param="input",
                code="context_length_exceeded")
        return outcome

    async def _events(self, plan: Plan, response: JsonObject, sink: ResponseSink,
                      turn: TurnThread) -> AsyncIterator[ResponseEvent]:
        item = turn.first
        try:
            while not isinstance(item, Outcome):
                if item is DONE:
                    return
                if isinstance(item, BaseException):
                    final = finish(response, "failed", [], None, error_message(item))
                    await self._save(plan, final)
                    yield Finished(final)
                    return
                yield item  # type: ignore[misc]
                item = await turn.queue.get()
            final = final_object(plan.cmd, response, item, sink)
            await self._save(plan, final)
            yield Finished(final)
        finally:
            turn.stop.set()
            self._busy.discard(plan.cmd.conversation_id or "")

    async def _save(self, plan: Plan, final: JsonObject) -> None:
        if plan.cmd.store or plan.cmd.conversation_id:
            await self.ctx.store.write(_save, plan, final)

    async def retrieve(self, response_id: str) -> JsonObject:
        row = await self.ctx.store.read(_get, response_id)
        return row["body"]

    async def delete(self, response_id: str) -> None:
        await self.ctx.store.write(_delete, response_id)

    async def input_items(self, response_id: str, params: PageParams
                          ) -> tuple[list[ItemJson], bool]:
        rows, more = await self.ctx.store.read(_input_page, response_id, params)
        return [r["item"] for r in rows], more

    async def count_input_tokens(self, cmd: ResponseCommand) -> int:
        entry = self.ctx.registry.get(resolve_model(self.ctx, cmd.model or ""))
        history, inputs, _ = await self.ctx.store.read(gather, cmd)
        instructions, items = to_core(cmd.instructions, history + inputs)
        backend = self.ctx.registry.backend(entry.name)
        return await asyncio.to_thread(_count, backend, instructions, items, cmd)


def _file_search(conn: Connection, tool: JsonObject) -> FileSearch:
    stores = [str(i) for i in tool["vector_store_ids"]]  # type: ignore[union-attr]
    for store_id in stores:
        require_vector_store(conn, store_id, "tools")
    return FileSearch(tuple(stores), max_num_results=int(tool["max_num_results"]),  # type: ignore
                      score_threshold=float(tool["score_threshold"]),  # type: ignore[arg-type]
                      filters=tool.get("filters"))  # type: ignore[arg-type]


def _spec(cmd: ResponseCommand, entry: ModelEntry, instructions: str, items: list[Item],
          key: str) -> TurnSpec:
    return TurnSpec(
        instructions=instructions, items=items, functions=list(cmd.functions),
        tool_choice=cmd.tool_choice, parallel_tool_calls=cmd.parallel_tool_calls,
        max_output_tokens=cmd.max_output_tokens, truncate=cmd.truncate, kv_key=key or None,
        sampling=sampling(entry, cmd.temperature, cmd.top_p, cmd.seed,
                          Controls(top_logprobs=cmd.top_logprobs)),
        output_format=OutputFormat(cmd.json_object, cmd.json_schema),
        max_tool_calls=cmd.max_tool_calls)


def _count(backend: ModelBackend, instructions: str, items: list[Item],
           cmd: ResponseCommand) -> int:
    """The prompt's tokens as the model would read it: the core's rendering, tools included."""
    messages = [{"role": "system", "content": instructions}] if instructions else []
    tools = [f.spec() for f in cmd.functions]
    return backend.count_tokens(messages + prompt.render(items), tools,
                                cmd.tool_choice if tools else "none")


def conversation_busy(conversation: str) -> InvalidRequest:
    return InvalidRequest(f"Conversation {conversation} already has a response in progress; "
                          "send the next one when it has finished.", param="conversation")


def error_message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def final_object(cmd: ResponseCommand, response: JsonObject, outcome: Outcome,
                 sink: ResponseSink) -> JsonObject:
    """The response as the turn's outcome ends it."""
    if outcome.ending == "failed":
        return finish(response, "failed", [], outcome.usage, outcome.error)
    answer = Answer(sink.message_id, sink.shown, sink.annotations, sink.items)
    output = output_items(cmd, outcome, answer, cmd.top_logprobs is not None)
    status = "incomplete" if outcome.ending == "incomplete" else "completed"
    return finish(response, status, output, outcome.usage)


def _save(conn: Connection, plan: Plan, final: JsonObject) -> None:
    """The response with its items, and the conversation's new items: one transaction."""
    cmd = plan.cmd
    if cmd.store:
        crud.add(conn, Response, ResponseRow(
            id=str(final["id"]), created_at=int(final["created_at"]),  # type: ignore[arg-type]
            status=str(final["status"]), model=str(final["model"]),
            previous_response_id=cmd.previous_response_id,
            conversation_id=cmd.conversation_id, body=final))
    save_items(conn, plan, final)


def save_items(conn: Connection, plan: Plan, final: JsonObject) -> None:
    """A finished response's input and output items (a stored response's), and its
    conversation's new items when it completed."""
    cmd = plan.cmd
    outputs: list[ItemJson] = list(final["output"])  # type: ignore[arg-type]
    if cmd.conversation_id and final["status"] in ("completed", "incomplete"):
        conversations.append(conn, cmd.conversation_id, plan.fresh + outputs)
    if not cmd.store:
        return
    response_id = str(final["id"])
    rows = [ResponseItemRow(id=str(i["id"]), response_id=response_id, role=role, item=i)
            for role, items in (("input", plan.inputs), ("output", outputs)) for i in items]
    if rows:
        # One multi-row INSERT: the rows take their seq in list order (crud.add_all's CTEs on
        # PostgreSQL do not promise an order among themselves).
        conn.execute(insert(crud.table_of(ResponseItem)).values(rows))


def _get(conn: Connection, response_id: str) -> ResponseRow:
    row = crud.find(conn, Response, response_id)
    if row is None:
        raise response_not_found(response_id)
    return crud.to_object(Response, row)


def _delete(conn: Connection, response_id: str) -> None:
    _get(conn, response_id)
    it = crud.table_of(ResponseItem)
    conn.execute(delete(it).where(it.c.response_id == response_id))
    crud.remove(conn, Response, response_id)


def _input_page(conn: Connection, response_id: str, params: PageParams
                ) -> tuple[list[ResponseItemRow], bool]:
    _get(conn, response_id)
    it = crud.table_of(ResponseItem)
    return crud.page(conn, ResponseItem, params, it.c.role == "input", response_id=response_id)

