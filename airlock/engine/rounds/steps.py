"""Run steps as the engine opens and closes them, and the wire shape of tool-call deltas."""

from __future__ import annotations

from collections.abc import Callable

from airlock.engine import run_state
from airlock.engine.core.items import Usage
from airlock.engine.events import EventData, StepDelta, ToolCallDelta
from airlock.engine.run_state import RunRecord
from airlock.store import Store, crud
from airlock.store.ids import new_id
from airlock.store.records import StepDetails, StepRow, ToolCallDetail
from airlock.store.tables import RunStep

Publish = Callable[[str, EventData], None]
EMPTY_CALLS: StepDetails = {"type": "tool_calls", "tool_calls": []}


def new_step(run: RunRecord, usage: Usage | None,
             details: StepDetails = EMPTY_CALLS) -> StepRow:
    """An in_progress step; tool-call steps open with no calls, as the SDKs' accumulators need."""
    return {
        "id": new_id("step"), "run_id": run.id, "thread_id": run.thread_id,
        "assistant_id": run.assistant_id, "created_at": crud.now(), "type": details["type"],
        "status": "in_progress", "step_details": details,
        "last_error": None, "expired_at": None, "cancelled_at": None, "failed_at": None,
        "completed_at": None, "metadata": {}, "usage": usage.wire() if usage else None,
    }


def open_tool_step(store: Store, publish: Publish, run: RunRecord,
                   usage: Usage | None) -> StepRow:
    step = new_step(run, usage)
    with store.begin() as conn:
        crud.add(conn, RunStep, step)
    publish("thread.run.step.created", step)
    publish("thread.run.step.in_progress", step)
    return step


def set_calls(store: Store, step_id: str, calls: list[ToolCallDetail]) -> None:
    """Stores a step's calls while it stays open (a failure must still show what ran)."""
    with store.begin() as conn:
        crud.change(conn, RunStep, step_id, {
            "step_details": {"type": "tool_calls", "tool_calls": calls}})


def complete_builtin(store: Store, publish: Publish, run: RunRecord, step_id: str,
                     calls: list[ToolCallDetail]) -> None:
    """Closes a built-in tool's step with its calls and keeps what the model reads back (the
    run's tool_io) in the same transaction."""
    with store.begin() as conn:
        crud.change(conn, RunStep, step_id, {
            "status": "completed", "completed_at": crud.now(),
            "step_details": {"type": "tool_calls", "tool_calls": calls}})
        run_state.save_params(conn, run)
        finished = crud.get(conn, RunStep, run_state.STEP_KIND, step_id)
    publish("thread.run.step.completed", finished)


def call_delta(step_id: str, index: int, call: ToolCallDelta) -> StepDelta:
    return {"id": step_id, "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls",
                                       "tool_calls": [{"index": index, **call}]}}}
