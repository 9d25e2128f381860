"""tool_resources as assistants, threads and runs store them: referenced ids checked, and
`file_search.vector_stores` made into new vector stores, so only ids are kept."""

from __future__ import annotations

from sqlalchemy import Connection

from airlock.errors import InvalidRequest
from airlock.service import vector_stores
from airlock.service.commands import ToolResourcesIn
from airlock.service.references import require_file, require_vector_store
from airlock.store.records import ToolResources


def resolve(conn: Connection, resources: ToolResourcesIn | None, param: str) -> ToolResources:
    """The stored form of a validated tool_resources value; `param` names it in errors."""
    if not resources:
        return {}
    out: ToolResources = {}
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
            require_vector_store(conn, store_id, f"{param}.file_search.vector_store_ids[{i}]")
        new = fs.get("vector_stores") or []
        if ids and new:
            raise InvalidRequest("Give either 'vector_store_ids' or 'vector_stores', not both: "
                                 "one vector store is allowed.",
                                 param=f"{param}.file_search.vector_stores")
        for i, spec in enumerate(new):
            # Made inline, the store is like any other; the object shows only its id.
            ids.append(vector_stores.insert(conn, {
                "file_ids": spec.get("file_ids") or [], "metadata": spec.get("metadata"),
                "chunking_strategy": spec.get("chunking_strategy")},
                f"{param}.file_search.vector_stores[{i}].")["id"])
        out["file_search"] = {"vector_store_ids": ids}
    return out
