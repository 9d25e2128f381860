"""A run's lifecycle: its statuses, the typed record the engine works on, and every transition.

Nothing else in airlock changes a run's status. Each transition is one conditional UPDATE
(`WHERE status IN <the statuses it may come from>`), so two writers racing over one run (a
worker finishing while a cancel arrives, an expiry sweep while outputs are submitted) can never
both win: the loser sees it did not move the run and acts on what the run became instead.

    queued ──claim──▶ in_progress ──finish──▶ completed | incomplete | failed
      ▲                    │
      └─submit outputs── requires_action
    queued | in_progress | requires_action ──cancel──▶ cancelling ──▶ cancelled
    queued | requires_action ──expire──▶ expired
    any active status ──fail──▶ failed   (a crash, a restart, a broken tool)

Transitions return the events they caused, in stream order, for the caller to publish once
the transaction committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Row,
    Update,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from airlock.engine.core.items import BuiltinCall, Usage
from airlock.engine.events import Event
from airlock.errors import InvalidRequest
from airlock.store import crud
from airlock.store.bus import live_replicas_query
from airlock.store.crud import Values
from airlock.store.records import (
    JsonObject,
    MessageRow,
    NamedToolChoice,
    RequiredAction,
    ResponseFormat,
    RunRow,
    StepRow,
    StoredRun,
    ToolResources,
    ToolSpec,
    TruncationStrategy,
)
from airlock.store.tables import INTERNAL, KernelHome, Message, Rows, Run, RunStep

KIND = "run"
STEP_KIND = "run step"
RESTARTED = ("The server restarted or stopped while this run was active; "
             "create the run again.")
LAPSED = ("The server replica running this run stopped answering (its lease lapsed); "
          "create the run again.")


class RunStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    EXPIRED = "expired"


S = RunStatus
ACTIVE = frozenset({S.QUEUED, S.IN_PROGRESS, S.REQUIRES_ACTION, S.CANCELLING})
TERMINAL = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.EXPIRED, S.INCOMPLETE})
# Waiting on someone other than a model worker: these expire at expires_at.
WAITING = frozenset({S.QUEUED, S.REQUIRES_ACTION})

# Each status, and the statuses a run may enter it from.
ALLOWED_FROM: dict[RunStatus, frozenset[RunStatus]] = {
    S.IN_PROGRESS: frozenset({S.QUEUED}),
    S.REQUIRES_ACTION: frozenset({S.IN_PROGRESS}),
    S.QUEUED: frozenset({S.REQUIRES_ACTION}),
    S.CANCELLING: frozenset({S.QUEUED, S.IN_PROGRESS, S.REQUIRES_ACTION}),
    S.CANCELLED: frozenset({S.CANCELLING}),
    S.COMPLETED: frozenset({S.IN_PROGRESS}),
    S.INCOMPLETE: frozenset({S.IN_PROGRESS}),
    S.FAILED: ACTIVE,
    S.EXPIRED: WAITING,
}
_STAMP = {S.COMPLETED: "completed_at", S.INCOMPLETE: "completed_at", S.FAILED: "failed_at",
          S.CANCELLED: "cancelled_at"}
# How a run's ending shows on its open step and on the message it was writing. A run ending
# incomplete mid-reply ran out of completion tokens: its message did too.
_STEP_END = {S.COMPLETED: "completed", S.INCOMPLETE: "completed", S.FAILED: "failed",
             S.CANCELLED: "cancelled", S.EXPIRED: "expired"}
_STEP_STAMP = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at",
               "expired": "expired_at"}
_MESSAGE_END = {S.FAILED: "run_failed", S.CANCELLED: "run_cancelled", S.EXPIRED: "run_expired",
                S.INCOMPLETE: "max_tokens"}


R = TypeVar("R", bound=Values)


# --- the typed run ----------------------------------------------------------------------------


# What the engine keeps of one built-in call of a run (core.items.BuiltinCall), by call id.
ToolIO = BuiltinCall


class RunParams(BaseModel):
    """What the engine keeps of a run that the Run object does not show."""

    include: list[str] = []  # include[] of run create: file_search result content in steps
    usage: Usage | None = None  # tokens spent by the run's earlier turns
    tool_io: dict[str, ToolIO] = {}  # built-in calls by call id

    def to_json(self) -> JsonObject:
        return self.model_dump(mode="json", exclude_defaults=True)

    def used(self) -> list[str]:
        """Names of the built-ins called so far, in call order."""
        return [io.name for io in self.tool_io.values()]


@dataclass
class RunRecord:
    """A run as the engine works on it; `row` is the stored snapshot events carry."""

    id: str
    thread_id: str
    assistant_id: str
    status: RunStatus
    backend: str
    instructions: str
    tools: list[ToolSpec]
    tool_resources: ToolResources | None
    temperature: float
    top_p: float
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationStrategy
    tool_choice: str | NamedToolChoice
    parallel_tool_calls: bool
    response_format: str | ResponseFormat
    params: RunParams
    row: StoredRun

    @classmethod
    def from_row(cls, row: StoredRun) -> RunRecord:
        return cls(
            id=row["id"], thread_id=row["thread_id"], assistant_id=row["assistant_id"],
            status=RunStatus(row["status"]), backend=row["backend"] or "",
            instructions=row["instructions"], tools=row["tools"],
            tool_resources=row["tool_resources"], temperature=row["temperature"],
            top_p=row["top_p"], max_prompt_tokens=row["max_prompt_tokens"],
            max_completion_tokens=row["max_completion_tokens"],
            truncation_strategy=row["truncation_strategy"], tool_choice=row["tool_choice"],
            parallel_tool_calls=row["parallel_tool_calls"], response_format=row["response_format"],
            params=RunParams.model_validate(row["params"] or {}), row=row)

    def has_tool(self, kind: str) -> bool:
        return any(t["type"] == kind for t in self.tools)


class ToolOutput(TypedDict):
    """One of submit_tool_outputs' tool_outputs."""

    tool_call_id: str
    output: str


def _stored(row: Row[Any]) -> StoredRun:
    """A runs row with every column, internal ones (backend, params) included."""
    return cast(StoredRun, dict(row._mapping))


def _row(conn: Connection, run_id: str) -> StoredRun:
    """The stored run, internal columns (backend, params) included."""
    row = crud.find(conn, Run, run_id)
    if row is None:
        raise LookupError(run_id)
    return _stored(row)


def _wire(row: StoredRun) -> RunRow:
    """A stored run as its wire fields."""
    return cast(RunRow, {k: v for k, v in row.items() if k not in INTERNAL})


def load(conn: Connection, run_id: str) -> RunRecord:
    return RunRecord.from_row(_row(conn, run_id))


def status_of(conn: Connection, run_id: str) -> RunStatus:
    t = crud.table_of(Run)
    return RunStatus(conn.execute(select(t.c.status).where(t.c.id == run_id)).scalar_one())


def active_run_id(conn: Connection, thread_id: str) -> str | None:
    """The thread's active run, if any: a thread runs one at a time."""
    t = crud.table_of(Run)
    q = select(t.c.id).where(t.c.thread_id == thread_id, t.c.status.in_(ACTIVE))
    found: str | None = conn.execute(q.limit(1)).scalar()
    return found


def save_params(conn: Connection, run: RunRecord) -> None:
    crud.change(conn, Run, run.id, {"params": run.params.to_json()})


# --- transitions --------------------------------------------------------------------------------

Write = tuple[str, Values]  # a row's id, and values to write on it


def _move_statement(run_id: str | ColumnElement[Any], to: RunStatus,
                    only_from: frozenset[RunStatus] | None, fields: Values,
                    open_message: str | None = None) -> Update:
    """The conditional UPDATE that moves a run to `to`, returning the run as it then is
    (internal columns included). `only_from` narrows ALLOWED_FROM; with `open_message` the run
    moves only while that message of it is in_progress."""
    values: dict[str, object] = {"status": to.value, **fields}
    if to in TERMINAL:
        values.update(expires_at=None, required_action=None)
        if to in _STAMP:
            values[_STAMP[to]] = crud.now()
    if to is S.QUEUED:
        # Position in the turn queue: a run back for another turn waits behind runs queued
        # before it.
        values["queued_ns"] = time.time_ns()
    t = crud.table_of(Run)
    allowed = ALLOWED_FROM[to] if only_from is None else ALLOWED_FROM[to] & only_from
    where = [t.c.id == run_id, t.c.status.in_([s.value for s in allowed])]
    if open_message is not None:
        m = crud.table_of(Message)
        where.append(exists().where(m.c.id == open_message, m.c.status == "in_progress"))
    return update(t).where(*where).values(**values).returning(*t.c)


def _move(conn: Connection, run_id: str | ColumnElement[Any], to: RunStatus, *,
          only_from: frozenset[RunStatus] | None = None, **fields: object) -> StoredRun | None:
    """The one place a run's status is written (with `_end`, built on the same statement): the
    run as it now is, or None when it was not in a status that may move to `to` (someone else
    moved it first)."""
    row = conn.execute(_move_statement(run_id, to, only_from, fields)).first()
    return None if row is None else _stored(row)


def _end(conn: Connection, run_id: str, to: RunStatus, *,
         only_from: frozenset[RunStatus] | None = None, message: Write | None = None,
         step: Write | None = None, message_open: bool = False,
         fields: Values) -> list[Event] | None:
    """Moves the run to the terminal status `to` and closes its open messages and steps to
    match (`message` and `step`: values written on those rows as they close); the events in
    stream order (closed messages, closed steps, then the run), or None when the run was not
    in a status that may move to `to` (or, with `message_open`, `message` was not open). On
    PostgreSQL one statement: the closing UPDATEs are data-modifying CTEs that run only if the
    run moved."""
    msg_values, step_values = _closing(to)
    open_message = message[0] if message_open and message is not None else None
    if conn.dialect.name != "postgresql":
        moved_row = conn.execute(
            _move_statement(run_id, to, only_from, fields, open_message)).first()
        if moved_row is None:
            return None
        return _events(to, _stored(moved_row),
                       _close(conn, Message, run_id, msg_values, message),
                       _close(conn, RunStep, run_id, step_values, step))
    moved = _move_statement(run_id, to, only_from, fields, open_message).cte("moved")
    closed = [_close_statement(model, run_id, values, write)
              .where(exists(select(moved.c.id))).cte(f"closed_{i}")
              for i, (model, values, write) in enumerate(
                  ((Message, msg_values, message), (RunStep, step_values, step)))]
    rows = [type_coerce(select(func.coalesce(
        func.json_agg(aggregate_order_by(c.table_valued(), c.c.seq)), text("'[]'::json")))
        .scalar_subquery(), JSON).label(f"closed_{i}") for i, c in enumerate(closed)]
    found = conn.execute(select(moved, *rows)).first()
    if found is None:
        return None
    run = dict(found._mapping)
    messages, steps = run.pop("closed_0"), run.pop("closed_1")
    # The closed rows come back as JSON objects of every column: their wire fields are the rows.
    return _events(to, cast(StoredRun, run),
                   [cast(MessageRow, _wire_fields(m)) for m in messages],
                   [cast(StepRow, _wire_fields(s)) for s in steps])


def _wire_fields(row: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in row.items() if k not in INTERNAL}


def create(conn: Connection, values: StoredRun) -> RunRow:
    """Stores a new run, queued. `values` are its columns but status (and, unless given, its
    queue position: now)."""
    row: StoredRun = {**values, "status": S.QUEUED.value}
    if row.get("queued_ns") is None:
        row["queued_ns"] = time.time_ns()
    conn.execute(insert(crud.table_of(Run)).values(**row))
    return _wire(row)


def claim_next(conn: Connection, backend: str, replica: str = "", lease_s: float = 0.0,
               elsewhere: bool = False) -> RunRecord | None:
    """Takes the longest-queued run for `backend` and marks it in_progress, held by `replica`
    for `lease_s` seconds (renewed by `renew_leases` while it works), or None. With
    `elsewhere` (replicas share the store), runs of threads whose code_interpreter kernel lives
    on another live replica are left to it (store.kernel_homes).

    One statement: `UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`. On
    PostgreSQL replicas claiming at once take different runs instead of queueing on one (SQLite
    has one writer and ignores the clause)."""
    t = crud.table_of(Run)
    q = t.alias("candidate")
    pick = select(q.c.id).where(q.c.status == S.QUEUED.value, q.c.backend == backend)
    if elsewhere:
        h = crud.table_of(KernelHome)
        pick = pick.where(~exists().where(
            h.c.thread_id == q.c.thread_id, h.c.replica != replica,
            h.c.replica.in_(live_replicas_query())))
    pick = pick.order_by(q.c.queued_ns, q.c.seq).limit(1).with_for_update(skip_locked=True, of=q)
    row = _move(conn, pick.scalar_subquery(), S.IN_PROGRESS, started_at=crud.now(),
                claimed_by=replica or None,
                lease_until=time.time() + lease_s if lease_s else None)
    return None if row is None else RunRecord.from_row(row)


def renew_leases(conn: Connection, run_ids: list[str], replica: str, lease_s: float
                 ) -> set[str]:
    """The replica still works on these runs: their leases run `lease_s` from now. Returns the
    runs renewed; the others ended meanwhile (a peer ended them when this replica stalled, or a
    cancel finished them) and their turns should stop."""
    if not run_ids:
        return set()
    t = crud.table_of(Run)
    renewed = conn.execute(update(t).where(
        t.c.id.in_(run_ids), t.c.claimed_by == replica,
        t.c.status.in_([S.IN_PROGRESS.value, S.CANCELLING.value]))
        .values(lease_until=time.time() + lease_s).returning(t.c.id)).scalars()
    return set(renewed)


def end_lapsed(conn: Connection, live: set[str]) -> list[tuple[str, list[Event]]]:
    """Runs whose replica is gone (not among `live`) or stopped renewing their lease (it hung)
    end: a run mid-turn fails with server_error, a run being cancelled ends cancelled. Any
    replica may call this."""
    t = crud.table_of(Run)
    now = time.time()
    gone = t.c.claimed_by.is_(None) | t.c.claimed_by.not_in(sorted(live))
    lapsed = t.c.lease_until.is_(None) | (t.c.lease_until < now)
    # Only the candidates are locked, so live replicas' runs are never held up by this.
    rows = conn.execute(select(t.c.id, t.c.claimed_by).where(
        t.c.status.in_([S.IN_PROGRESS.value, S.CANCELLING.value]), gone | lapsed
    ).with_for_update(skip_locked=True)).all()
    ended = []
    for run_id, owner in rows:
        why = LAPSED if owner in live else RESTARTED
        events = cancel_waiting(conn, run_id) or fail(conn, run_id, why)
        if events:
            ended.append((run_id, events))
    return ended


def backends_with_work(conn: Connection) -> list[str]:
    t = crud.table_of(Run)
    return list(conn.execute(
        select(t.c.backend).where(t.c.status == S.QUEUED.value).distinct()).scalars())


def try_finish_turn(conn: Connection, run: RunRecord, ending: RunStatus, *, message: Write,
                    step: Write, **fields: object) -> list[Event] | None:
    """`finish_turn`'s common case in one statement (`Store.statement`): the run is still
    in_progress and the turn's reply message is open. None, having written nothing, when it
    is not so: then `finish_turn` in a transaction sorts it out."""
    return _end(conn, run.id, ending, only_from=frozenset({S.IN_PROGRESS}), message=message,
                step=step, message_open=True, fields=fields)


def finish_turn(conn: Connection, run: RunRecord, ending: RunStatus, *,
                message: Write | None = None, step: Write | None = None,
                **fields: object) -> list[Event]:
    """A worker's turn ended the run (completed, incomplete or failed). A cancel that arrived
    meanwhile wins: the run ends cancelled, keeping only the usage it had. `message` and
    `step`: what the turn writes on its open message and step (the final content, the usage),
    in the statement that closes them."""
    kept = {k: v for k, v in fields.items() if k == "usage"}
    events = _end(conn, run.id, ending, only_from=frozenset({S.IN_PROGRESS}), message=message,
                  step=step, fields=fields)
    if events is None:
        events = _end(conn, run.id, S.CANCELLED, message=message, step=step, fields=kept)
    if events is None:
        # Ended meanwhile (a peer failed it after this replica stalled): the turn's writes
        # still land, the ending stays.
        for model, write in ((Message, message), (RunStep, step)):
            if write is not None:
                crud.change(conn, model, write[0], write[1])
        return []
    if message is not None and not any(data.get("id") == message[0] for _, data in events):
        # The turn's message was not open: a database crash lost its non-durable creation
        # (engine.reply). Nothing of this ending lands; the worker fails the run instead.
        raise LookupError(f"the reply's message {message[0]} of run {run.id} is missing")
    return events


def require_action(conn: Connection, run: RunRecord, required_action: RequiredAction
                   ) -> list[Event]:
    """The model called functions: the run waits for the client's outputs (or, if a cancel
    arrived meanwhile, ends cancelled)."""
    row = _move(conn, run.id, S.REQUIRES_ACTION, required_action=required_action,
                params=run.params.to_json())
    if row is not None:
        return [("thread.run.requires_action", _wire(row))]
    usage = run.params.usage.wire() if run.params.usage else None
    return _end(conn, run.id, S.CANCELLED, fields={"usage": usage}) or []


def submit_outputs(conn: Connection, thread_id: str, run_id: str, outputs: list[ToolOutput]
                   ) -> tuple[StoredRun, list[Event]]:
    """Stores the outputs on the waiting tool_calls step and queues the run for its next turn."""
    run = crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    if run["status"] != S.REQUIRES_ACTION:
        raise InvalidRequest(
            f"Runs in status \"{run['status']}\" do not accept tool outputs.", param="run_id")
    action = run["required_action"]
    pending = [c["id"] for c in action["submit_tool_outputs"]["tool_calls"]] if action else []
    given = [o["tool_call_id"] for o in outputs]
    if len(set(given)) != len(given):
        raise InvalidRequest("Each tool_call_id may appear only once in tool_outputs.",
                             param="tool_outputs")
    if set(given) != set(pending):
        missing, unknown = sorted(set(pending) - set(given)), sorted(set(given) - set(pending))
        raise InvalidRequest(
            f"Expected tool outputs for call_ids {pending}, got {given}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "") + ".", param="tool_outputs")
    by_id = {o["tool_call_id"]: o["output"] for o in outputs}
    steps = crud.table_of(RunStep)
    step_id = conn.execute(select(steps.c.id).where(
        steps.c.run_id == run_id, steps.c.type == "tool_calls", steps.c.status == "in_progress")
    ).scalar_one()
    details = crud.get(conn, RunStep, STEP_KIND, step_id)["step_details"]
    calls = [{**c, "function": {**c["function"], "output": by_id[c["id"]]}}
             for c in details.get("tool_calls", [])]
    crud.change(conn, RunStep, step_id, {
        "status": "completed", "completed_at": crud.now(),
        "step_details": {"type": "tool_calls", "tool_calls": calls}})
    queued = _move(conn, run_id, S.QUEUED, required_action=None)
    if queued is None:
        raise InvalidRequest("The run stopped waiting for tool outputs.", param="run_id")
    return queued, [("thread.run.step.completed", crud.get(conn, RunStep, STEP_KIND, step_id)),
                    ("thread.run.queued", queued)]


def request_cancel(conn: Connection, thread_id: str, run_id: str) -> tuple[RunRow, str]:
    """Marks the run cancelling; returns it and the status it had, which says who finishes it:
    a worker mid-turn stops within a token, a waiting run is ended by `cancel_waiting`."""
    run = crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    was = RunStatus(run["status"])
    if was in TERMINAL:
        raise InvalidRequest(f"Cannot cancel run with status '{was}'.")
    row = _move(conn, run_id, S.CANCELLING) if was is not S.CANCELLING else None
    return (crud.get(conn, Run, KIND, run_id) if row is None else _wire(row)), was.value


def cancel_waiting(conn: Connection, run_id: str) -> list[Event]:
    """Ends a cancelling run that no worker holds."""
    return _end(conn, run_id, S.CANCELLED, fields={}) or []


def fail(conn: Connection, run_id: str, message: str, code: str = "server_error") -> list[Event]:
    """Ends an active run failed; a run that already ended stays as it is."""
    return _end(conn, run_id, S.FAILED,
                fields={"last_error": {"code": code, "message": message}}) or []


def fail_interrupted(conn: Connection) -> list[str]:
    """At start-up: runs a dead process left active end failed, so none stays stuck. Runs that
    wait on a client (requires_action) keep waiting: nothing of them was in the process."""
    t = crud.table_of(Run)
    worked = [S.QUEUED.value, S.IN_PROGRESS.value, S.CANCELLING.value]
    ids = list(conn.execute(select(t.c.id).where(t.c.status.in_(worked))).scalars())
    for run_id in ids:
        fail(conn, run_id, RESTARTED)
    return ids  # nobody watches runs of a dead process: no events


def expire_due(conn: Connection) -> list[tuple[str, list[Event]]]:
    """Runs still waiting (queued, or on tool outputs) past expires_at become expired."""
    t = crud.table_of(Run)
    ids = list(conn.execute(select(t.c.id).where(
        t.c.status.in_([s.value for s in WAITING]), t.c.expires_at <= crud.now())).scalars())
    expired = []
    for run_id in ids:
        events = _end(conn, run_id, S.EXPIRED, fields={})
        if events is not None:
            expired.append((run_id, events))
    return expired


def next_expiry(conn: Connection) -> int | None:
    """The earliest expires_at of a run that is waiting or may yet wait (in_progress runs go
    to requires_action keeping theirs): no run can expire before it."""
    t = crud.table_of(Run)
    may_wait = [S.QUEUED.value, S.IN_PROGRESS.value, S.REQUIRES_ACTION.value]
    found: int | None = conn.execute(
        select(func.min(t.c.expires_at)).where(t.c.status.in_(may_wait))).scalar()
    return found


def _closing(status: RunStatus) -> tuple[Values, Values]:
    """What a run's ending writes on its open messages, and on its open steps."""
    now = crud.now()
    message: Values
    if status in _MESSAGE_END:
        message = {"status": "incomplete", "incomplete_at": now,
                                   "incomplete_details": {"reason": _MESSAGE_END[status]}}
    else:
        message = {"status": "completed", "completed_at": now}
    step_status = _STEP_END[status]
    return message, {"status": step_status, _STEP_STAMP[step_status]: now}


def _events(status: RunStatus, run: StoredRun, messages: list[MessageRow],
            steps: list[StepRow]) -> list[Event]:
    return [*((f"thread.message.{m['status']}", m) for m in messages),
            *((f"thread.run.step.{s['status']}", s) for s in steps),
            (f"thread.run.{status.value}", _wire(run))]


def _close_statement(model: crud.Model, run_id: str, values: Values,
                     write: Write | None) -> Update:
    """Closes the run's in_progress rows of `model`, writing `write`'s values on its row;
    returns the closed rows."""
    t = crud.table_of(model)
    values = dict(values)
    if write is not None:
        row_id, extra = write
        for key, value in extra.items():
            values[key] = case((t.c.id == row_id, bindparam(None, value, type_=t.c[key].type)),
                               else_=t.c[key])
    return (update(t).where(t.c.run_id == run_id, t.c.status == "in_progress")
            .values(**values).returning(*t.c))


def _close(conn: Connection, model: type[Rows[R]], run_id: str, values: Values,
           write: Write | None) -> list[R]:
    """The closed rows as wire objects, oldest first."""
    rows = conn.execute(_close_statement(model, run_id, values, write)).all()
    return [crud.to_object(model, r) for r in sorted(rows, key=lambda r: r.seq)]
