"""Run steps as the engine opens them, and the wire shape of their tool-call deltas."""

from __future__ import annotations

from typing import Any

from airlock.engine.ids import new_id
from airlock.engine.store import crud


def new_step(run: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": new_id("step"), "run_id": run["id"], "thread_id": run["thread_id"],
        "assistant_id": run["assistant_id"], "created_at": crud.now(), "type": "tool_calls",
        "status": "in_progress", "step_details": {"type": "tool_calls", "tool_calls": []},
        "last_error": None, "expired_at": None, "cancelled_at": None, "failed_at": None,
        "completed_at": None, "metadata": {}, "usage": usage,
    }


def call_delta(step_id: str, index: int, call: dict[str, Any]) -> dict[str, Any]:
    return {"id": step_id, "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls",
                                       "tool_calls": [{"index": index, **call}]}}}
