"""Response objects: which stored fields each wire object shows, in the contract's shape (§5)."""

from __future__ import annotations

from typing import Any

_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "assistant": ("assistant", (
        "id", "created_at", "name", "description", "model", "instructions", "tools",
        "tool_resources", "metadata", "temperature", "top_p", "response_format",
    )),
    "thread": ("thread", ("id", "created_at", "tool_resources", "metadata")),
    "message": ("thread.message", (
        "id", "created_at", "thread_id", "status", "incomplete_details", "completed_at",
        "incomplete_at", "role", "content", "assistant_id", "run_id", "attachments", "metadata",
    )),
    "run": ("thread.run", (
        "id", "created_at", "thread_id", "assistant_id", "status", "required_action",
        "last_error", "expires_at", "started_at", "cancelled_at", "failed_at", "completed_at",
        "incomplete_details", "model", "instructions", "tools", "tool_resources", "metadata",
        "usage", "temperature", "top_p", "max_prompt_tokens", "max_completion_tokens",
        "truncation_strategy", "tool_choice", "parallel_tool_calls", "response_format",
    )),
    "step": ("thread.run.step", (
        "id", "created_at", "run_id", "assistant_id", "thread_id", "type", "status",
        "step_details", "last_error", "expired_at", "cancelled_at", "failed_at", "completed_at",
        "metadata", "usage",
    )),
    "file": ("file", (
        "id", "created_at", "bytes", "filename", "purpose", "status", "status_details",
        "expires_at",
    )),
}


def render(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    obj, fields = _FIELDS[kind]
    out = {"id": row["id"], "object": obj}
    for name in fields[1:]:
        out[name] = row.get(name)
    return out


def render_all(kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [render(kind, r) for r in rows]
