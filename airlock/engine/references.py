"""Checks that ids a request points at exist, so nothing is stored with a dangling reference."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from airlock.engine import vector_stores
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
        ids = list(fs.get("vector_store_ids", []))
        for i, store_id in enumerate(ids):
            vector_stores.require(conn, store_id, f"{param}.file_search.vector_store_ids[{i}]")
        new = fs.get("vector_stores") or []
        if ids and new:
            raise InvalidRequest("Give either 'vector_store_ids' or 'vector_stores', not both: "
                                 "one vector store is allowed.",
                                 param=f"{param}.file_search.vector_stores")
        for i, spec in enumerate(new):
            # Made inline, the store is like any other; the object shows only its id.
            ids.append(vector_stores.create(conn, {
                "file_ids": spec.get("file_ids") or [], "metadata": spec.get("metadata"),
                "chunking_strategy": spec.get("chunking_strategy")},
                f"{param}.file_search.vector_stores[{i}].")["id"])
        out["file_search"] = {"vector_store_ids": ids}
    return out
