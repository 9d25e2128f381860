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
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, exists, select, update

from airlock.engine.citations import Source
from airlock.engine.events import Event
from airlock.errors import InvalidRequest
from airlock.store import crud
from airlock.store.tables import KernelHome, Message, Run, RunStep

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


# --- the typed run ----------------------------------------------------------------------------


class TokenDetails(BaseModel):
    cached_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_token_details: TokenDetails = Field(default_factory=TokenDetails)

    @classmethod
    def of(cls, prompt: int, completion: int, cached: int) -> Usage:
        return cls(prompt_tokens=prompt, completion_tokens=completion,
                   total_tokens=prompt + completion,
                   prompt_token_details=TokenDetails(cached_tokens=cached))

    def plus(self, other: Usage) -> Usage:
        return Usage.of(self.prompt_tokens + other.prompt_tokens,
                        self.completion_tokens + other.completion_tokens,
                        self.prompt_token_details.cached_tokens
                        + other.prompt_token_details.cached_tokens)

    def wire(self) -> dict[str, Any]:
        return self.model_dump()


class ToolIO(BaseModel):
    """One built-in tool call as the model saw it: what it wrote and what it read back, plus
    what the call made that later turns need (sources to cite, images, files)."""

    name: str
    arguments: str = "{}"
    output: str = ""
    query: str | None = None  # file_search: the query actually searched
    sources: list[Source] = []
    images: list[str] = []  # code_interpreter: image File ids
    files: dict[str, str] = {}  # code_interpreter: /mnt/data path -> File id


class RunParams(BaseModel):
    """What the engine keeps of a run that the Run object does not show."""

    include: list[str] = []  # include[] of run create: file_search result content in steps
    usage: Usage | None = None  # tokens spent by the run's earlier turns
    tool_io: dict[str, ToolIO] = {}  # built-in calls by call id

    def to_json(self) -> dict[str, Any]:
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
    tools: list[dict[str, Any]]
    tool_resources: dict[str, Any] | None
    temperature: float
    top_p: float
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict[str, Any]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    response_format: str | dict[str, Any]
    params: RunParams
    row: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
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


def _row(conn: Connection, run_id: str) -> dict[str, Any]:
    """The stored run, internal columns (backend, params) included."""
    row = crud.find(conn, Run, run_id)
    if row is None:
        raise LookupError(run_id)
    return dict(row._mapping)


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


def _move(conn: Connection, run_id: str, to: RunStatus, **fields: Any) -> bool:
    """The one place a run's status is written; False when the run was not in a status that
    may move to `to` (someone else moved it first)."""
    values: dict[str, Any] = {"status": to.value, **fields}
    if to in TERMINAL:
        values.update(expires_at=None, required_action=None)
        if to in _STAMP:
            values[_STAMP[to]] = crud.now()
    if to is S.QUEUED:
        # Position in the turn queue: a run back for another turn waits behind runs queued
        # before it.
        values["queued_ns"] = time.time_ns()
    t = crud.table_of(Run)
    allowed = [s.value for s in ALLOWED_FROM[to]]
    return conn.execute(update(t).where(t.c.id == run_id, t.c.status.in_(allowed))
                        .values(**values)).rowcount == 1


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    """Stores a new run, queued. `values` are its columns but status and queue position."""
    return crud.add(conn, Run, {**values, "status": S.QUEUED.value, "queued_ns": time.time_ns()})


def claim_next(conn: Connection, backend: str, replica: str = "", lease_s: float = 0.0,
               peers: set[str] | None = None) -> RunRecord | None:
    """Takes the longest-queued run for `backend` and marks it in_progress, held by `replica`
    for `lease_s` seconds (renewed by `renew_leases` while it works), or None. Runs of threads
    whose code_interpreter kernel lives on one of `peers` (live replicas other than this one)
    are left to them (store.kernel_homes).

    On PostgreSQL the row is locked `FOR UPDATE SKIP LOCKED`: replicas claiming at once take
    different runs instead of queueing on one (SQLite has one writer and ignores the clause)."""
    t = crud.table_of(Run)
    q = select(t.c.id).where(t.c.status == S.QUEUED.value, t.c.backend == backend)
    if peers:
        h = crud.table_of(KernelHome)
        q = q.where(~exists().where(h.c.thread_id == t.c.thread_id,
                                    h.c.replica.in_(sorted(peers))))
    run_id = conn.execute(
        q.order_by(t.c.queued_ns, t.c.seq).limit(1).with_for_update(skip_locked=True, of=t)
    ).scalar()
    if run_id is None or not _move(conn, run_id, S.IN_PROGRESS, started_at=crud.now(),
                                   claimed_by=replica or None,
                                   lease_until=time.time() + lease_s if lease_s else None):
        return None
    return load(conn, run_id)


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


def finish_turn(conn: Connection, run: RunRecord, ending: RunStatus, **fields: Any) -> list[Event]:
    """A worker's turn ended the run (completed, incomplete or failed). A cancel that arrived
    meanwhile wins: the run ends cancelled, keeping only the usage it had."""
    kept = {k: v for k, v in fields.items() if k == "usage"}
    if _move(conn, run.id, S.CANCELLED, **kept):
        return _ended(conn, run.id, S.CANCELLED)
    if _move(conn, run.id, ending, **fields):
        return _ended(conn, run.id, ending)
    return []


def require_action(conn: Connection, run: RunRecord, required_action: dict[str, Any]
                   ) -> list[Event]:
    """The model called functions: the run waits for the client's outputs (or, if a cancel
    arrived meanwhile, ends cancelled)."""
    if _move(conn, run.id, S.REQUIRES_ACTION, required_action=required_action,
             params=run.params.to_json()):
        return [("thread.run.requires_action", crud.get(conn, Run, KIND, run.id))]
    usage = run.params.usage.wire() if run.params.usage else None
    return _ended(conn, run.id, S.CANCELLED) if _move(conn, run.id, S.CANCELLED, usage=usage) else []


def submit_outputs(conn: Connection, thread_id: str, run_id: str, outputs: list[dict[str, str]]
                   ) -> tuple[dict[str, Any], list[Event]]:
    """Stores the outputs on the waiting tool_calls step and queues the run for its next turn."""
    run = crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    if run["status"] != S.REQUIRES_ACTION:
        raise InvalidRequest(
            f"Runs in status \"{run['status']}\" do not accept tool outputs.", param="run_id")
    pending = [c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]]
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
             for c in details["tool_calls"]]
    crud.change(conn, RunStep, step_id, {
        "status": "completed", "completed_at": crud.now(),
        "step_details": {"type": "tool_calls", "tool_calls": calls}})
    if not _move(conn, run_id, S.QUEUED, required_action=None):
        raise InvalidRequest("The run stopped waiting for tool outputs.", param="run_id")
    queued = _row(conn, run_id)
    return queued, [("thread.run.step.completed", crud.get(conn, RunStep, STEP_KIND, step_id)),
                    ("thread.run.queued", queued)]


def request_cancel(conn: Connection, thread_id: str, run_id: str) -> tuple[dict[str, Any], str]:
    """Marks the run cancelling; returns it and the status it had, which says who finishes it:
    a worker mid-turn stops within a token, a waiting run is ended by `cancel_waiting`."""
    run = crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    was = RunStatus(run["status"])
    if was in TERMINAL:
        raise InvalidRequest(f"Cannot cancel run with status '{was}'.")
    if was is not S.CANCELLING:
        _move(conn, run_id, S.CANCELLING)
    return crud.get(conn, Run, KIND, run_id), was.value


def cancel_waiting(conn: Connection, run_id: str) -> list[Event]:
    """Ends a cancelling run that no worker holds."""
    return _ended(conn, run_id, S.CANCELLED) if _move(conn, run_id, S.CANCELLED) else []


def fail(conn: Connection, run_id: str, message: str, code: str = "server_error") -> list[Event]:
    """Ends an active run failed; a run that already ended stays as it is."""
    if not _move(conn, run_id, S.FAILED, last_error={"code": code, "message": message}):
        return []
    return _ended(conn, run_id, S.FAILED)


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
    return [(run_id, _ended(conn, run_id, S.EXPIRED)) for run_id in ids
            if _move(conn, run_id, S.EXPIRED)]


def _ended(conn: Connection, run_id: str, status: RunStatus) -> list[Event]:
    """Closes the run's open message and step to match its ending; the events in stream
    order: closed message, closed step, then the run."""
    now = crud.now()
    events: list[Event] = []
    if status in _MESSAGE_END:
        msg_values: dict[str, Any] = {"status": "incomplete", "incomplete_at": now,
                                      "incomplete_details": {"reason": _MESSAGE_END[status]}}
    else:
        msg_values = {"status": "completed", "completed_at": now}
    for message_id in _open(conn, crud.table_of(Message), run_id):
        crud.change(conn, Message, message_id, msg_values)
        events.append((f"thread.message.{msg_values['status']}",
                       crud.get(conn, Message, "message", message_id)))
    step_status = _STEP_END[status]
    for step_id in _open(conn, crud.table_of(RunStep), run_id):
        crud.change(conn, RunStep, step_id, {"status": step_status,
                                             _STEP_STAMP[step_status]: now})
        events.append((f"thread.run.step.{step_status}",
                       crud.get(conn, RunStep, STEP_KIND, step_id)))
    return [*events, (f"thread.run.{status.value}", crud.get(conn, Run, KIND, run_id))]


def _open(conn: Connection, t: Any, run_id: str) -> list[str]:
    q = select(t.c.id).where(t.c.run_id == run_id, t.c.status == "in_progress").order_by(t.c.seq)
    return list(conn.execute(q).scalars())
