"""Runs: created queued (waking the model worker), fed tool outputs, cancelled; their steps.

With `watch`, the run's event feed is subscribed before the run is written, since a worker
thread may claim the run the moment it commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import Connection

from airlock.engine import run_state
from airlock.engine.events import Watch
from airlock.errors import InvalidRequest
from airlock.models.sampling import Sampling
from airlock.service import messages, threads, tool_resources
from airlock.service.commands import MessageFields, MetadataFields, RunFields, ToolResourcesIn
from airlock.service.context import Context
from airlock.service.feeds import Feed
from airlock.service.model_names import resolve_model
from airlock.service.paging import PageParams
from airlock.store import crud
from airlock.store.ids import new_id
from airlock.store.records import (
    AssistantRow,
    ResponseFormat,
    RunRow,
    StepRow,
    StoredRun,
    ThreadRow,
    ToolResources,
    ToolSpec,
)
from airlock.store.tables import Assistant, Run, RunStep, Thread

KIND = run_state.KIND
STEP_KIND = run_state.STEP_KIND
# A run's stream ends after the first of these events: the run stopped, or waits on the client.
STREAM_ENDS = frozenset(f"thread.run.{status}" for status in
                        (*run_state.TERMINAL, run_state.RunStatus.REQUIRES_ACTION))
T = TypeVar("T")
AUTO_FORMAT: str | ResponseFormat = "auto"


def _check_tool_choice(fields: RunFields, assistant: AssistantRow) -> None:
    choice = fields.get("tool_choice")
    tools: list[ToolSpec] = _first(fields.get("tools"), default=assistant["tools"])
    if isinstance(choice, dict):
        if choice["type"] == "function":
            name = choice["function"]["name"] if "function" in choice else None
            names = [t["function"]["name"] for t in tools if t["type"] == "function"]
            if name not in names:
                raise InvalidRequest(f"Invalid 'tool_choice': no function named '{name}' among "
                                     f"this run's tools {names}.", param="tool_choice")
        elif not any(t["type"] == choice["type"] for t in tools):
            raise InvalidRequest(f"Invalid 'tool_choice': the run has no {choice['type']} tool.",
                                 param="tool_choice")
    elif choice == "required" and not tools:
        raise InvalidRequest("Invalid 'tool_choice': 'required' needs at least one tool.",
                             param="tool_choice")


def _first(*values: T | None, default: T) -> T:
    """The first value that is set (not None), else the default."""
    return next((v for v in values if v is not None), default)


def _columns(thread_id: str, assistant: AssistantRow, fields: RunFields,
             resources: ToolResources | None, expires_after: int, run_id: str,
             sampling: Sampling, backend: str) -> StoredRun:
    """A new run's columns: the request's values, else the assistant's, else the defaults
    (for temperature and top_p: the model's)."""
    instructions = fields.get("instructions")
    if instructions is None:
        instructions = assistant["instructions"] or ""
    if extra := fields.get("additional_instructions"):
        instructions = "\n\n".join(p for p in (instructions, extra) if p)
    truncation = fields.get("truncation_strategy") or {"type": "auto"}
    created = crud.now()
    params = run_state.RunParams(include=fields.get("include") or [])
    return StoredRun(
        id=run_id, thread_id=thread_id, assistant_id=assistant["id"],
        created_at=created, status=run_state.RunStatus.QUEUED.value, required_action=None,
        last_error=None, expires_at=created + expires_after, started_at=None, cancelled_at=None,
        failed_at=None, completed_at=None, incomplete_details=None,
        model=fields.get("model") or assistant["model"],
        instructions=instructions,
        tools=_first(fields.get("tools"), assistant["tools"], default=[]),
        tool_resources=resources,
        metadata=fields.get("metadata") or {},
        usage=None,
        temperature=_first(fields.get("temperature"), assistant["temperature"],
                           default=sampling.temperature),
        top_p=_first(fields.get("top_p"), assistant["top_p"], default=sampling.top_p),
        max_prompt_tokens=fields.get("max_prompt_tokens"),
        max_completion_tokens=fields.get("max_completion_tokens"),
        truncation_strategy={"type": truncation["type"],
                             "last_messages": truncation.get("last_messages")},
        tool_choice=fields.get("tool_choice") or "auto",
        parallel_tool_calls=fields.get("parallel_tool_calls", True) is not False,
        response_format=_first(fields.get("response_format"), assistant["response_format"],
                               default=AUTO_FORMAT),
        params=params.to_json(),
        backend=backend,
    )


class Runs:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    # --- writes that wake a worker ---------------------------------------------------------------

    async def create(self, thread_id: str, fields: RunFields, *, watch: bool = False
                     ) -> tuple[RunRow, Feed | None]:
        """A queued run, and with `watch` its event feed."""
        async with self._watched(watch) as (run_id, feed):
            run, backend = await self.ctx.store.write(self._create, thread_id, fields, run_id)
        self._queued(backend, files=_queues_files(fields.get("additional_messages"),
                                              fields.get("tool_resources")))
        return run, feed

    async def create_thread_and_run(self, fields: RunFields, *, watch: bool = False
                                    ) -> tuple[ThreadRow, RunRow, Feed | None]:
        async with self._watched(watch) as (run_id, feed):
            thread, (run, backend) = await self.ctx.store.write(self._create_with_thread, fields,
                                                                run_id)
        new = fields.get("thread") or {}
        self._queued(backend, files=_queues_files(fields.get("additional_messages"),
                                              fields.get("tool_resources"))
                     or _queues_files(new.get("messages"), new.get("tool_resources")))
        return thread, run, feed

    async def submit_tool_outputs(self, thread_id: str, run_id: str,
                                  outputs: list[run_state.ToolOutput], *, watch: bool = False
                                  ) -> tuple[StoredRun, Feed | None]:
        async with self._watched(watch, run_id) as (_, feed):
            run, events = await self.ctx.store.write(run_state.submit_outputs, thread_id,
                                                     run_id, outputs)
        self.ctx.background.hub.publish_all(run_id, events)
        self._queued(run["backend"] or "")
        return run, feed

    async def cancel(self, thread_id: str, run_id: str) -> RunRow:
        run, was = await self.ctx.store.write(run_state.request_cancel, thread_id, run_id)
        hub = self.ctx.background.hub
        hub.publish(run_id, "thread.run.cancelling", run)
        if was == run_state.RunStatus.IN_PROGRESS:
            self.ctx.background.scheduler.request_stop(run_id)  # stops within a token
        elif was != run_state.RunStatus.CANCELLING:
            hub.publish_all(run_id, await self.ctx.store.write(run_state.cancel_waiting, run_id))
        return run

    def include_of(self, run: StoredRun) -> list[str]:
        """The include[] a run was created with (file_search result content in its steps)."""
        return run_state.RunParams.model_validate(run.get("params") or {}).include

    # --- reads and metadata ----------------------------------------------------------------------

    async def retrieve(self, thread_id: str, run_id: str) -> RunRow:
        return await self.ctx.store.read(crud.get_in_thread, Run, KIND, run_id, thread_id)

    async def update(self, thread_id: str, run_id: str, fields: MetadataFields) -> RunRow:
        return await self.ctx.store.write(crud.update_in_thread, Run, KIND, run_id, thread_id,
                                          fields)

    async def page(self, thread_id: str, params: PageParams) -> tuple[list[RunRow], bool]:
        return await self.ctx.store.read(crud.page_in_thread, Run, params, thread_id)

    async def retrieve_step(self, thread_id: str, run_id: str, step_id: str) -> StepRow:
        return await self.ctx.store.read(_get_step, thread_id, run_id, step_id)

    async def page_steps(self, thread_id: str, run_id: str, params: PageParams
                         ) -> tuple[list[StepRow], bool]:
        return await self.ctx.store.read(_page_steps, thread_id, run_id, params)

    # --- transactions ----------------------------------------------------------------------------

    def _create(self, conn: Connection, thread_id: str, fields: RunFields,
                run_id: str) -> tuple[RunRow, str]:
        """A queued run on an existing thread; additional_messages join the thread first."""
        thread = crud.get(conn, Thread, "thread", thread_id)
        assistant = crud.get(conn, Assistant, "assistant", fields["assistant_id"])
        return self._queue(conn, thread, assistant, fields, run_id, new_thread=False)

    def _create_with_thread(self, conn: Connection, fields: RunFields, run_id: str
                            ) -> tuple[ThreadRow, tuple[RunRow, str]]:
        """POST /threads/runs: a new thread and its first run, in one transaction."""
        assistant = crud.get(conn, Assistant, "assistant", fields["assistant_id"])
        thread = threads.insert(conn, fields.get("thread") or {})
        return thread, self._queue(conn, thread, assistant, fields, run_id, new_thread=True)

    def _queue(self, conn: Connection, thread: ThreadRow, assistant: AssistantRow,
               fields: RunFields, run_id: str, *, new_thread: bool) -> tuple[RunRow, str]:
        """The queued run, and the backend that serves it."""
        backend = resolve_model(self.ctx, fields.get("model") or assistant["model"])
        _check_tool_choice(fields, assistant)
        thread_id = thread["id"]
        # A thread made in this transaction has no run yet.
        active = None if new_thread else run_state.active_run_id(conn, thread_id)
        if active is not None:
            raise InvalidRequest(f"Thread {thread_id} already has an active run {active}.")
        resources = (tool_resources.resolve(conn, fields["tool_resources"], "tool_resources")
                      if "tool_resources" in fields else None)
        messages.add_to_thread(conn, thread, [
            messages.build(conn, thread_id, extra, f"additional_messages[{i}].")
            for i, extra in enumerate(fields.get("additional_messages") or [])])
        return run_state.create(conn, _columns(
            thread_id, assistant, fields, resources, self.ctx.cfg.run_expires_after_s, run_id,
            self.ctx.registry.get(backend).sampling, backend)), backend

    def _queued(self, backend: str, *, files: bool = False) -> None:
        self.ctx.background.scheduler.wake(backend)
        if files:
            self.ctx.background.ingestor.wake()  # attachments may have queued files

    @asynccontextmanager
    async def _watched(self, watch: bool, run_id: str | None = None
                       ) -> AsyncIterator[tuple[str, Feed | None]]:
        run_id = run_id or new_id("run")
        feed = Watch(self.ctx.background.hub, run_id) if watch else None
        try:
            yield run_id, feed
        except BaseException:
            if feed:
                feed.close()
            raise


def _queues_files(added: list[MessageFields] | None, resources: ToolResourcesIn | None) -> bool:
    """Whether a request (a run's, or its new thread's) may have queued files for ingestion:
    messages with attachments, or new vector stores in tool_resources."""
    stores = ((resources or {}).get("file_search") or {}).get("vector_stores")
    return bool(stores) or any(m.get("attachments") for m in added or [])


def _get_step(conn: Connection, thread_id: str, run_id: str, step_id: str) -> StepRow:
    crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    return crud.get(conn, RunStep, STEP_KIND, step_id, run_id=run_id)


def _page_steps(conn: Connection, thread_id: str, run_id: str, params: PageParams
                ) -> tuple[list[StepRow], bool]:
    crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    return crud.page(conn, RunStep, params, run_id=run_id)
