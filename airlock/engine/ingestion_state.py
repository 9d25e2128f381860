"""A vector-store file's ingestion: its statuses and every transition, and its batch's status.

Nothing else in airlock writes a vector-store file's status (store.crud refuses to). As with
runs (engine/run_state.py), each transition is one conditional UPDATE, so a worker finishing a
file, a cancel and a removal racing over it cannot both win.

    (added, or added again) ──▶ in_progress ──finish──▶ completed | failed
                                     │
                                     └──cancel (its batch)──▶ cancelled

A file waiting is `in_progress` with no claim; a worker claims it (claim token + lease) and
finishes it only while its claim holds. A batch has no status of its own: it is derived from its
files' (`batch_status`), so a poll of the batch can never disagree with its files.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, select, update

from airlock.store import crud
from airlock.store.records import Attributes, ChunkingStrategy, VectorStoreFileRow
from airlock.store.tables import VectorStoreFile


class FileStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = FileStatus
# Each status, and the statuses a file may enter it from (in_progress is entered by adding).
ALLOWED_FROM: dict[FileStatus, frozenset[FileStatus]] = {
    S.COMPLETED: frozenset({S.IN_PROGRESS}),
    S.FAILED: frozenset({S.IN_PROGRESS}),
    S.CANCELLED: frozenset({S.IN_PROGRESS}),
}


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one file: which file, its token, and how to chunk it."""

    store_id: str
    file_id: str
    token: str
    chunking: ChunkingStrategy


def _table() -> Any:
    return crud.table_of(VectorStoreFile)


def queue(conn: Connection, store_id: str, file_id: str, *, strategy: ChunkingStrategy,
          attributes: Attributes | None = None, batch_id: str | None = None
          ) -> VectorStoreFileRow:
    """Queues the file for ingestion into the store (in_progress, unclaimed); adding it again
    replaces the earlier entry and ingests it again."""
    t = _table()
    conn.execute(delete(t).where(t.c.vector_store_id == store_id, t.c.id == file_id))
    values = {"id": file_id, "vector_store_id": store_id, "created_at": crud.now(),
              "usage_bytes": 0, "status": S.IN_PROGRESS.value, "last_error": None,
              "chunking_strategy": strategy, "attributes": attributes, "batch_id": batch_id,
              "claim": None}
    conn.execute(insert(t).values(**values))
    return crud.to_object(VectorStoreFile, conn.execute(select(t).where(
        t.c.vector_store_id == store_id, t.c.id == file_id)).one())


def cancel_batch(conn: Connection, batch_id: str) -> int:
    """The batch's files still waiting or being ingested end cancelled (a worker midway drops
    what it indexed when its finish finds the file no longer its own)."""
    t = _table()
    return int(conn.execute(update(t).where(
        t.c.batch_id == batch_id, t.c.status.in_(_from(S.CANCELLED)))
        .values(status=S.CANCELLED.value)).rowcount)


def claim_next(conn: Connection, lease_s: float) -> Claim | None:
    """The oldest waiting file, claimed (SKIP LOCKED: replicas claiming at once take different
    files on PostgreSQL), or None."""
    t = _table()
    row = conn.execute(select(t.c.vector_store_id, t.c.id, t.c.chunking_strategy).where(
        t.c.status == S.IN_PROGRESS.value, t.c.claim.is_(None)).order_by(t.c.seq).limit(1)
        .with_for_update(skip_locked=True)).first()
    if row is None:
        return None
    token = uuid.uuid4().hex
    claimed = conn.execute(update(t).where(
        t.c.vector_store_id == row.vector_store_id, t.c.id == row.id,
        t.c.status == S.IN_PROGRESS.value, t.c.claim.is_(None)).values(
            claim=token, lease_until=time.time() + lease_s)).rowcount
    return Claim(row.vector_store_id, row.id, token, row.chunking_strategy) if claimed else None


def held(conn: Connection, claim: Claim) -> bool:
    """The file is still being ingested under this claim (not cancelled, removed or re-added)."""
    t = _table()
    return conn.execute(select(t.c.seq).where(_mine(claim))).first() is not None


def finish(conn: Connection, claim: Claim, status: FileStatus, *, usage: int = 0,
           error: tuple[str, str] | None = None) -> tuple[bool, str | None]:
    """Ends the claimed file `completed` or `failed`; returns whether it did, and the status the
    file has now (None: it was removed)."""
    t = _table()
    values: dict[str, object] = {"status": status.value, "usage_bytes": usage}
    if error:
        values["last_error"] = {"code": error[0], "message": error[1]}
    landed = conn.execute(update(t).where(
        *_key(claim), t.c.claim == claim.token, t.c.status.in_(_from(status)))
        .values(**values)).rowcount
    now = conn.execute(select(t.c.status).where(*_key(claim))).scalar()
    return bool(landed), now


def renew(conn: Connection, tokens: list[str], lease_s: float) -> None:
    t = _table()
    conn.execute(update(t).where(t.c.claim.in_(tokens), t.c.status == S.IN_PROGRESS.value)
                 .values(lease_until=time.time() + lease_s))


def requeue_lapsed(conn: Connection) -> int:
    """Files whose claiming replica stopped renewing (it died) wait again for any worker."""
    t = _table()
    return int(conn.execute(update(t).where(
        t.c.status == S.IN_PROGRESS.value, t.c.claim.is_not(None),
        t.c.lease_until < time.time()).values(claim=None, lease_until=None)).rowcount)


def clear_claims(conn: Connection) -> None:
    """At start-up (one process): a dead process's claims go; those files are ingested again."""
    t = _table()
    conn.execute(update(t).where(t.c.status == S.IN_PROGRESS.value).values(claim=None))


def batch_status(counts: dict[str, int], cancelled: bool) -> str:
    """A batch's status from its files' counts by status."""
    total = sum(counts.values())
    if cancelled:
        return S.CANCELLED.value
    if counts.get(S.IN_PROGRESS.value):
        return S.IN_PROGRESS.value
    return S.FAILED.value if total and counts.get(S.FAILED.value) == total else S.COMPLETED.value


def _key(claim: Claim) -> list[ColumnElement[bool]]:
    t = _table()
    return [t.c.vector_store_id == claim.store_id, t.c.id == claim.file_id]


def _mine(claim: Claim) -> ColumnElement[bool]:
    t = _table()
    return and_(*_key(claim), t.c.claim == claim.token, t.c.status == S.IN_PROGRESS.value)


def _from(status: FileStatus) -> list[str]:
    return [s.value for s in ALLOWED_FROM[status]]
