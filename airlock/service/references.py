"""Checks that ids a request points at exist, so nothing is stored with a dangling reference.

A missing referenced object is a bad request naming the parameter (400), not a 404: the
request's own target exists.
"""

from __future__ import annotations

from sqlalchemy import Connection

from airlock.errors import InvalidRequest
from airlock.store import crud, files
from airlock.store.tables import VectorStore


def require_file(conn: Connection, file_id: str, param: str) -> None:
    if files.find(conn, file_id) is None:
        raise InvalidRequest(f"No file found with id '{file_id}'.", param=param)


def require_vector_store(conn: Connection, store_id: str, param: str) -> None:
    if crud.find(conn, VectorStore, store_id) is None:
        raise InvalidRequest(f"No vector store found with id '{store_id}'.", param=param)
