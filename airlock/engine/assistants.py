"""Assistants: stored defaults and reference checks on create and update."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from airlock.engine import references
from airlock.engine.ids import new_id
from airlock.engine.store import crud
from airlock.engine.store.tables import Assistant

KIND = "assistant"


def create(conn: Connection, fields: dict[str, Any]) -> dict[str, Any]:
    values = {
        "id": new_id("assistant"),
        "created_at": crud.now(),
        "name": None,
        "description": None,
        "instructions": None,
        "tools": [],
        "metadata": {},
        # The real API reports its defaults rather than nulls.
        "temperature": 1.0,
        "top_p": 1.0,
        "response_format": "auto",
        "reasoning_effort": None,
        **{k: v for k, v in fields.items() if v is not None},
    }
    values["tool_resources"] = references.tool_resources(
        conn, fields.get("tool_resources"), "tool_resources"
    )
    return crud.add(conn, Assistant, values)


def update(conn: Connection, assistant_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    crud.get(conn, Assistant, KIND, assistant_id)
    changes = dict(fields)
    if "tool_resources" in changes:
        changes["tool_resources"] = references.tool_resources(
            conn, changes["tool_resources"], "tool_resources"
        )
    for key, default in (("metadata", {}), ("tools", []), ("temperature", 1.0), ("top_p", 1.0),
                         ("response_format", "auto")):
        if key in changes and changes[key] is None:
            changes[key] = default
    if changes.get("model", "") is None:
        del changes["model"]
    crud.change(conn, Assistant, assistant_id, changes)
    return crud.get(conn, Assistant, KIND, assistant_id)
