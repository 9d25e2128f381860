"""response_format: what a turn asks the model's grammar for, and whether the reply met it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from airlock.models.backend import TurnResult


def request_format(response_format: Any) -> dict[str, Any]:
    """The TurnRequest fields that make the model's grammar produce this format."""
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_object":
            return {"json_object": True}
        if response_format.get("type") == "json_schema":
            schema = response_format["json_schema"].get("schema") or {"type": "object"}
            return {"json_schema": schema}
    return {}


def reply_error(response_format: Any, result: TurnResult) -> str | None:
    """For JSON formats, a finished reply must parse (and validate); anything else is a bug."""
    wanted = request_format(response_format)
    if not wanted or result.finish_reason != "stop":
        return None
    try:
        value = json.loads(result.text)
    except ValueError:
        return "The model's reply is not valid JSON."
    if "json_schema" in wanted:
        try:
            jsonschema.validate(value, wanted["json_schema"])
        except jsonschema.ValidationError as exc:
            return f"The model's reply does not match the schema: {exc.message}"
    return None
