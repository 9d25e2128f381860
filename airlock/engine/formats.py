"""response_format (Assistants runs, Chat Completions): what the turn asks the grammar for."""

from __future__ import annotations

from typing import Any

from airlock.engine.core.items import OutputFormat


def output_format(response_format: Any) -> OutputFormat:
    """`"auto"`, `{"type": "text"}`: prose; `json_object` / `json_schema`: JSON under a grammar
    (core.turn.format_error checks a finished reply)."""
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_object":
            return OutputFormat(json_object=True)
        if response_format.get("type") == "json_schema":
            schema = response_format["json_schema"].get("schema") or {"type": "object"}
            return OutputFormat(json_schema=schema)
    return OutputFormat()
