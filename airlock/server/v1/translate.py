"""v1 requests in v2 terms, the way OpenAI carried v1 objects into v2: the retrieval tool is
file_search, and a message's file_ids are attachments for both file tools."""

from __future__ import annotations

from typing import Any

from airlock.server.wire.v1_requests import tool_v2

# A v1 message file was available to retrieval and code_interpreter alike.
_MESSAGE_FILE_TOOLS = [{"type": "file_search"}, {"type": "code_interpreter"}]


def message(fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if k != "file_ids"}
    if fields.get("file_ids"):
        out["attachments"] = [{"file_id": f, "tools": _MESSAGE_FILE_TOOLS}
                              for f in fields["file_ids"]]
    return out


def thread(fields: dict[str, Any]) -> dict[str, Any]:
    return {**fields, "messages": [message(m) for m in fields.get("messages") or []]}


def run(fields: dict[str, Any]) -> dict[str, Any]:
    """Run create or create_and_run fields."""
    out = dict(fields)
    if fields.get("tools") is not None:
        out["tools"] = [tool_v2(t) for t in fields["tools"]]
    choice = fields.get("tool_choice")
    if isinstance(choice, dict) and choice["type"] == "retrieval":
        out["tool_choice"] = {"type": "file_search"}
    if fields.get("response_format") == "none":
        out["response_format"] = "auto"
    if fields.get("additional_messages"):
        out["additional_messages"] = [message(m) for m in fields["additional_messages"]]
    if fields.get("thread"):
        out["thread"] = thread(fields["thread"])
    return out
