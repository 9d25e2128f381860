"""v2 rows in the shapes of Assistants v1 (what the openai SDK 1.20 validates).

v1 has no tool_resources: an assistant's and a run's `file_ids` are given by the caller (see
service.assistant_files); file_search shows as the retrieval tool; a message's attachments are
its `file_ids`; citations carry their quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "assistant": ("assistant", (
        "created_at", "name", "description", "model", "instructions", "metadata")),
    "thread": ("thread", ("created_at", "metadata")),
    "message": ("thread.message", (
        "created_at", "thread_id", "status", "incomplete_details", "completed_at",
        "incomplete_at", "role", "assistant_id", "run_id", "metadata")),
    "run": ("thread.run", (
        "created_at", "thread_id", "assistant_id", "required_action", "last_error",
        "expires_at", "started_at", "cancelled_at", "failed_at", "completed_at",
        "incomplete_details", "model", "instructions", "metadata", "temperature",
        "max_prompt_tokens", "max_completion_tokens", "truncation_strategy")),
    "step": ("thread.run.step", (
        "created_at", "run_id", "assistant_id", "thread_id", "type", "status", "last_error",
        "expired_at", "cancelled_at", "failed_at", "completed_at", "metadata")),
}


def _base(kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
    obj, fields = _FIELDS[kind]
    return {"id": row["id"], "object": obj, **{name: row.get(name) for name in fields}}


def tools(stored: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "retrieval"} if t["type"] == "file_search" else dict(t) for t in stored]


def assistant(row: Mapping[str, Any], file_ids: list[str]) -> dict[str, Any]:
    return {**_base("assistant", row), "tools": tools(row["tools"]), "file_ids": file_ids}


def thread(row: Mapping[str, Any]) -> dict[str, Any]:
    return _base("thread", row)


def message(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**_base("message", row), "content": [_part(p) for p in row["content"]],
            "file_ids": [a["file_id"] for a in row.get("attachments") or []]}


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    if part["type"] == "image_url":  # v1 had no image URLs in messages
        return {"type": "text", "text": {"value": part["image_url"]["url"], "annotations": []}}
    if part["type"] != "text":
        return dict(part)
    return {"type": "text", "text": {**part["text"], "annotations": quoted(
        part["text"].get("annotations") or [])}}


def quoted(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """v1's file_citation requires a quote."""
    return [{**a, "file_citation": {"quote": "", **a["file_citation"]}}
            if a.get("type") == "file_citation" else dict(a) for a in items]


def run(row: Mapping[str, Any], file_ids: list[str]) -> dict[str, Any]:
    out = _base("run", row)
    # v1 knows no "incomplete" run: the reason stays in incomplete_details.
    out["status"] = "completed" if row["status"] == "incomplete" else row["status"]
    out["tools"] = tools(row["tools"])
    out["file_ids"] = file_ids
    out["usage"] = _usage(row.get("usage"))
    out["tool_choice"] = _tool_choice(row.get("tool_choice"))
    out["response_format"] = _response_format(row.get("response_format"))
    return out


def _usage(usage: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not usage:
        return None if usage is None else dict(usage)
    return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _tool_choice(choice: Any) -> Any:
    if choice == "required":
        return "auto"  # v1 could not require a call
    if isinstance(choice, dict) and choice.get("type") == "file_search":
        return {"type": "retrieval"}
    return choice


def _response_format(fmt: Any) -> Any:
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return {"type": "json_object"}  # v1 knew JSON mode only
    return fmt


def step(row: Mapping[str, Any]) -> dict[str, Any]:
    out = _base("step", row)
    out["usage"] = _usage(row.get("usage"))
    details = row["step_details"]
    if details.get("type") == "tool_calls":
        details = {**details, "tool_calls": [tool_call(c) for c in details["tool_calls"]]}
    out["step_details"] = details
    return out


def tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """A step's tool call (or a delta of one): a file_search call is a retrieval call."""
    if call.get("type") != "file_search":
        return dict(call)
    out = {k: v for k, v in call.items() if k != "file_search"}
    return {**out, "type": "retrieval", "retrieval": {}}


def assistant_file(assistant_id: str, file: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": file["id"], "object": "assistant.file", "created_at": file["created_at"],
            "assistant_id": assistant_id}


def message_file(message_row: Mapping[str, Any], file_id: str) -> dict[str, Any]:
    return {"id": file_id, "object": "thread.message.file",
            "created_at": message_row["created_at"], "message_id": message_row["id"]}
