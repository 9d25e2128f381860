"""Checks that ids a request points at exist, so nothing is stored with a dangling reference."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from airlock.engine.store import crud
from airlock.engine.store.tables import File
from airlock.errors import InvalidRequest


def require_file(conn: Connection, file_id: str, param: str) -> None:
    if crud.find(conn, File, file_id) is None:
        raise InvalidRequest(f"No file found with id '{file_id}'.", param=param)


def tool_resources(conn: Connection, resources: dict[str, Any] | None, param: str) -> dict[str, Any]:
    """The stored form of a validated tool_resources value, after checking its file ids."""
    if not resources:
        return {}
    out: dict[str, Any] = {}
    ci = resources.get("code_interpreter")
    if ci is not None:
        ids = ci.get("file_ids", [])
        for i, file_id in enumerate(ids):
            require_file(conn, file_id, f"{param}.code_interpreter.file_ids[{i}]")
        out["code_interpreter"] = {"file_ids": ids}
    fs = resources.get("file_search")
    if fs is not None:
        if fs.get("vector_stores"):
            raise InvalidRequest(
                "Creating vector stores inside tool_resources is not supported yet; "
                "create the store with POST /v1/vector_stores and pass vector_store_ids.",
                param=f"{param}.file_search.vector_stores",
            )
        out["file_search"] = {"vector_store_ids": fs.get("vector_store_ids", [])}
    return out
