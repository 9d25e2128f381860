"""Response objects: which stored fields each wire object shows (docs/wire/objects.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    "vector_store": ("vector_store", (
        "id", "created_at", "name", "usage_bytes", "file_counts", "status", "expires_after",
        "expires_at", "last_active_at", "metadata",
    )),
    "vector_store_file": ("vector_store.file", (
        "id", "created_at", "usage_bytes", "vector_store_id", "status", "last_error",
        "chunking_strategy", "attributes",
    )),
    # Not "vector_store.file_batch", which the spec's prose uses and strict clients reject.
    "file_batch": ("vector_store.files_batch", (
        "id", "created_at", "vector_store_id", "status", "file_counts",
    )),
}


def render(kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
    obj, fields = _FIELDS[kind]
    out = {"id": row["id"], "object": obj}
    for name in fields[1:]:
        out[name] = row.get(name)
    if kind == "message":
        out["content"] = [_unquoted(part) for part in out["content"]]
    for name, value in _SHOWN_WHEN_UNSET.get(kind, {}).items():
        if out[name] is None:
            out[name] = value
    return out


# An assistant's unset sampling shows as the API's defaults (its runs use their model's).
_SHOWN_WHEN_UNSET = {"assistant": {"temperature": 1.0, "top_p": 1.0}}


def without_quotes(annotations: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Annotations as v2 shows them: a file_citation carries only its file_id (the stored
    quote is for Assistants v1)."""
    return [{**a, "file_citation": {"file_id": a["file_citation"]["file_id"]}}
            if a.get("type") == "file_citation" and "file_citation" in a else a
            for a in annotations]


def _unquoted(part: Mapping[str, Any]) -> Mapping[str, Any]:
    if part.get("type") != "text" or not part["text"].get("annotations"):
        return part
    return {**part, "text": {**part["text"],
                             "annotations": without_quotes(part["text"]["annotations"])}}


def render_all(kind: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [render(kind, r) for r in rows]


# include[] value that shows file_search result content in run steps.
RESULT_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def render_step(row: Mapping[str, Any], include: list[str] | None) -> dict[str, Any]:
    """A run step; file_search results lose their content unless the client asked for it."""
    out = render("step", row)
    if include and RESULT_CONTENT in include:
        return out
    details = out["step_details"]
    if details.get("type") == "tool_calls" and any(
            c.get("type") == "file_search" for c in details.get("tool_calls", [])):
        out["step_details"] = {**details, "tool_calls": [_without_content(c) for c in details["tool_calls"]]}
    return out


def _without_content(call: Mapping[str, Any]) -> Mapping[str, Any]:
    if call.get("type") != "file_search" or "results" not in call.get("file_search", {}):
        return call
    fs = call["file_search"]
    return {**call, "file_search": {**fs, "results": [
        {k: v for k, v in r.items() if k != "content"} for r in fs["results"]]}}
