"""Background responses as queued work: the one place their status moves, and their event log.

A background response is stored `queued` with the request to run (its command) and the first
events of its stream. A model worker claims it as it claims runs (engine.scheduler: oldest
first, one statement, `SKIP LOCKED` between replicas, a lease renewed while it works), runs it
and settles it. Every write to a response in flight starts with `_hold`: one UPDATE that locks
its row and says whether it is still in a status the writer may act on, so the worker, a cancel
and the replica reaping a lapsed lease never both append to the log or both end it.

    queued ──claim──▶ in_progress ──settle──▶ completed | incomplete | failed
       │                  │
       └──── cancel ──────┴──▶ cancelled        (a lapsed lease or a restart: failed)

Every write appends the events it implies, numbered on from the log, so the stored log is the
whole stream a client sees: `GET ?stream=true` replays it and then follows the new events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, insert, select, update

from airlock.engine.response_events import ResponseEvents
from airlock.store import crud
from airlock.store.bus import live_replicas_query
from airlock.store.records import JsonObject
from airlock.store.tables import KernelHome, Response, ResponseEvent

QUEUED, IN_PROGRESS = "queued", "in_progress"
ACTIVE = (QUEUED, IN_PROGRESS)
RESTARTED = ("The server restarted or stopped while this response was being generated; "
             "create it again.")
LAPSED = ("The server replica generating this response stopped answering (its lease lapsed); "
          "create it again.")


@dataclass(frozen=True)
class Claimed:
    """A background response a worker took: what to run, and the object as it stands."""

    id: str
    command: JsonObject
    body: JsonObject
    backend: str


def enqueue(conn: Connection, body: JsonObject, command: JsonObject, backend: str,
            kernel: str | None = None) -> None:
    """Stores `body` (status queued) as queued work, with its stream's first events. `kernel`:
    the container its code will run in."""
    t = crud.table_of(Response)
    conn.execute(insert(t).values(
        id=body["id"], created_at=body["created_at"], status=QUEUED, model=body["model"],
        previous_response_id=body.get("previous_response_id"),
        conversation_id=(body.get("conversation") or {}).get("id"),  # type: ignore[union-attr]
        body=body, background=True, command=command, backend=backend,
        queued_ns=time.time_ns(), kernel=kernel))
    _append(conn, str(body["id"]), ResponseEvents().start(body))


def claim_next(conn: Connection, backend: str, replica: str = "", lease_s: float = 0.0,
               elsewhere: bool = False) -> Claimed | None:
    """Takes the longest-queued background response for `backend`: in_progress, held by
    `replica` for `lease_s`, its in_progress event logged. One statement claims (as runs'
    claim_next); the event follows in the same transaction. With `elsewhere` (replicas share
    the store), a response whose container's kernel lives on another live replica is left to
    it, as a thread's runs are."""
    t = crud.table_of(Response)
    # A read first: the worker looks here each time it finds no run, and an UPDATE that
    # matches nothing would still take SQLite's write lock from the API's writers.
    if conn.execute(select(t.c.id).where(t.c.status == QUEUED, t.c.backend == backend)
                    .limit(1)).first() is None:
        return None
    q = t.alias("candidate")
    wanted = select(q.c.id).where(q.c.status == QUEUED, q.c.backend == backend)
    if elsewhere:
        h = crud.table_of(KernelHome)
        wanted = wanted.where(~exists().where(
            h.c.thread_id == q.c.kernel, h.c.replica != replica,
            h.c.replica.in_(live_replicas_query())))
    pick = (wanted.order_by(q.c.queued_ns, q.c.seq).limit(1)
            .with_for_update(skip_locked=True, of=q).scalar_subquery())
    row = conn.execute(update(t).where(t.c.id == pick, t.c.status == QUEUED).values(
        status=IN_PROGRESS, claimed_by=replica or None,
        lease_until=time.time() + lease_s if lease_s else None,
    ).returning(t.c.id, t.c.command, t.c.backend, t.c.body)).first()
    if row is None:
        return None
    body = {**row.body, "status": IN_PROGRESS}
    conn.execute(update(t).where(t.c.id == row.id).values(body=body))
    _append(conn, row.id, ResponseEvents.restore(events_after(conn, row.id, -1)).begin(body))
    return Claimed(row.id, row.command, body, row.backend)


def hold(conn: Connection, response_id: str, statuses: tuple[str, ...] = (IN_PROGRESS,)
         ) -> str | None:
    """Locks the response's row for this transaction if it is in one of `statuses`, and says
    which; None if it is not (someone else moved it). The first write of the transaction, so
    SQLite takes its write lock here too and the log read next cannot change under it."""
    t = crud.table_of(Response)
    return conn.execute(update(t).where(t.c.id == response_id, t.c.status.in_(statuses))
                        .values(status=t.c.status).returning(t.c.status)).scalar()


def append(conn: Connection, response_id: str, events: list[JsonObject]) -> bool:
    """Appends the worker's `events` if the response is still in progress (the caller built
    them on from the log it had); False when it is not, and the turn should stop."""
    if hold(conn, response_id) is None:
        return False
    _append(conn, response_id, events)
    return True


def _append(conn: Connection, response_id: str, events: list[JsonObject]) -> None:
    if events:
        conn.execute(insert(crud.table_of(ResponseEvent)).values([
            {"response_id": response_id, "number": e["sequence_number"], "event": e}
            for e in events]))


def settle(conn: Connection, final: JsonObject, events: list[JsonObject]) -> bool:
    """The worker's end: `final` is stored and its events appended, if the response is still
    in progress; False if a cancel or a reaper ended it first (the worker's result is dropped)."""
    response_id = str(final["id"])
    if hold(conn, response_id) is None:
        return False
    _set_final(conn, final)
    _append(conn, response_id, events)
    return True


def _set_final(conn: Connection, final: JsonObject) -> None:
    t = crud.table_of(Response)
    conn.execute(update(t).where(t.c.id == final["id"]).values(
        status=final["status"], body=final, claimed_by=None, lease_until=None))


def end(conn: Connection, response_id: str, status: str, message: str | None = None,
        from_statuses: tuple[str, ...] = ACTIVE) -> tuple[JsonObject, list[JsonObject]] | None:
    """Ends a response still in `from_statuses` as `status` (cancelled, or failed with
    `message`) from outside its worker: the stream is closed from the stored log (a message cut
    short ends incomplete). The ended object and the events that closed its stream, or None if
    it was not in those statuses."""
    if hold(conn, response_id, from_statuses) is None:
        return None
    t = crud.table_of(Response)
    body = conn.execute(select(t.c.body).where(t.c.id == response_id)).scalar_one()
    final = closed(body, status, error=message)
    events = ResponseEvents.restore(events_after(conn, response_id, -1)).finish(final)
    _set_final(conn, final)
    _append(conn, response_id, events)
    return final, events


def closed(body: JsonObject, status: str, *, error: str | None = None,
           output: list[Any] | None = None, usage: JsonObject | None = None) -> JsonObject:
    """The response object as it ends with `status`: the fields every ending sets."""
    done = dict(body)
    done.update(status=status, output=output if output is not None else [], usage=usage,
                completed_at=int(time.time()) if status == "completed" else None)
    if status == "incomplete":
        done["incomplete_details"] = {"reason": "max_output_tokens"}
    if status == "failed":
        done["error"] = {"code": "server_error", "message": error or "The model failed."}
    return done


def events_after(conn: Connection, response_id: str, after: int) -> list[JsonObject]:
    """The stored events numbered above `after`, in order."""
    e = crud.table_of(ResponseEvent)
    rows = conn.execute(select(e.c.event).where(e.c.response_id == response_id,
                                                e.c.number > after).order_by(e.c.number))
    return list(rows.scalars())


def is_background(conn: Connection, response_id: str) -> bool | None:
    """Whether the stored response ran in the background; None if there is none."""
    t = crud.table_of(Response)
    return conn.execute(select(t.c.background).where(t.c.id == response_id)).scalar()


def is_active(conn: Connection, response_id: str) -> bool:
    """Whether the response is queued or in progress (False once it ended, or is gone)."""
    t = crud.table_of(Response)
    status = conn.execute(select(t.c.status).where(t.c.id == response_id)).scalar()
    return status in ACTIVE


def active_in(conn: Connection, conversation_id: str) -> int:
    """How many background responses of the conversation are queued or in progress."""
    t = crud.table_of(Response)
    return len(conn.execute(select(t.c.id).where(
        t.c.conversation_id == conversation_id, t.c.background.is_(True),
        t.c.status.in_(ACTIVE)).limit(2)).all())


def backends_with_work(conn: Connection) -> list[str]:
    t = crud.table_of(Response)
    return list(conn.execute(select(t.c.backend).where(t.c.status == QUEUED)
                             .distinct()).scalars())


def renew_leases(conn: Connection, response_ids: list[str], replica: str, lease_s: float
                 ) -> set[str]:
    """As runs' renew_leases: the responses still in progress under `replica`'s claim."""
    if not response_ids:
        return set()
    t = crud.table_of(Response)
    return set(conn.execute(update(t).where(
        t.c.id.in_(response_ids), t.c.claimed_by == replica, t.c.status == IN_PROGRESS)
        .values(lease_until=time.time() + lease_s).returning(t.c.id)).scalars())


def end_lapsed(conn: Connection, live: set[str]) -> list[tuple[str, list[JsonObject]]]:
    """As runs' end_lapsed: responses in progress whose replica is gone (not among `live`:
    it stopped or restarted) or stopped renewing its lease (it hung) end failed, their streams
    closed. Returns each with the events that closed it."""
    t = crud.table_of(Response)
    gone = t.c.claimed_by.is_(None) | t.c.claimed_by.not_in(sorted(live))
    lapsed = t.c.lease_until.is_(None) | (t.c.lease_until < time.time())
    rows = conn.execute(select(t.c.id, t.c.claimed_by).where(
        t.c.status == IN_PROGRESS, gone | lapsed).with_for_update(skip_locked=True)).all()
    ended = [(i, fail(conn, i, LAPSED if owner in live else RESTARTED)) for i, owner in rows]
    return [(i, events) for i, events in ended if events]


def fail_interrupted(conn: Connection) -> list[tuple[str, list[JsonObject]]]:
    """At start-up of a store no other process shares: responses the dead process was
    generating end failed. Queued ones stay queued: the workers take them up."""
    t = crud.table_of(Response)
    ids = conn.execute(select(t.c.id).where(t.c.status == IN_PROGRESS)).scalars().all()
    return [(i, fail(conn, i, RESTARTED)) for i in ids]


def fail(conn: Connection, response_id: str, message: str) -> list[JsonObject]:
    """Ends an in-progress response failed from outside its turn; the events that closed its
    stream (none if it had already ended)."""
    ended = end(conn, response_id, "failed", message, from_statuses=(IN_PROGRESS,))
    return [] if ended is None else ended[1]
