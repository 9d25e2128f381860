"""Runs and their steps in the store: creation, the state machine's transitions, the queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select, update

from airlock.engine import messages, references, threads
from airlock.engine.events import Event
from airlock.engine.ids import new_id
from airlock.engine.store import crud
from airlock.engine.store.tables import Assistant, Message, Run, RunStep
from airlock.errors import InvalidRequest

KIND = "run"
STEP_KIND = "run step"
ACTIVE = messages.ACTIVE_RUN_STATUSES
TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
EXPIRES_AFTER = 600
RESTARTED = "The server restarted while this run was active; create the run again."
# How a run's ending shows on the step and on the message it was writing.
_STEP_END = {"completed": "completed", "incomplete": "completed", "failed": "failed",
             "cancelled": "cancelled", "expired": "expired"}
# A run ending incomplete mid-reply ran out of completion tokens: its message did too.
_MESSAGE_END = {"failed": "run_failed", "cancelled": "run_cancelled", "expired": "run_expired",
                "incomplete": "max_tokens"}
_STEP_STAMP = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at",
               "expired": "expired_at"}

Resolver = Callable[[str], str]  # requested model name -> registry entry name


# --- reading ----------------------------------------------------------------------------------


def get_step(conn: Connection, thread_id: str, run_id: str, step_id: str) -> dict[str, Any]:
    crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    return crud.get(conn, RunStep, STEP_KIND, step_id, run_id=run_id)


def page_steps(
    conn: Connection, thread_id: str, run_id: str, params: crud.PageParams
) -> tuple[list[dict[str, Any]], bool]:
    crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    return crud.page(conn, RunStep, params, run_id=run_id)


def load(conn: Connection, run_id: str) -> dict[str, Any]:
    """The run with its internal columns, for the engine."""
    return dict(crud.find(conn, Run, run_id)._mapping)


# --- creating ---------------------------------------------------------------------------------


def create(conn: Connection, thread_id: str, fields: dict[str, Any], resolve: Resolver,
           expires_after: int = EXPIRES_AFTER, run_id: str | None = None) -> dict:
    """A queued run on an existing thread; additional_messages join the thread first."""
    crud.require(conn, crud.Thread, "thread", thread_id)
    assistant = crud.get(conn, Assistant, "assistant", fields["assistant_id"])
    backend = resolve(fields.get("model") or assistant["model"])
    _check_tool_choice(fields, assistant)
    active = messages.active_run_id(conn, thread_id)
    if active is not None:
        raise InvalidRequest(f"Thread {thread_id} already has an active run {active}.")
    if fields.get("tool_resources"):
        fields = {**fields, "tool_resources": references.tool_resources(
            conn, fields["tool_resources"], "tool_resources")}
    thread = crud.get(conn, crud.Thread, "thread", thread_id)
    messages.add_to_thread(conn, thread, [
        messages.build(conn, thread_id, extra, f"additional_messages[{i}].")
        for i, extra in enumerate(fields.get("additional_messages") or [])])
    values = {**_new_run(thread_id, assistant, fields, expires_after, run_id), "backend": backend,
              "queued_ns": time.time_ns()}
    return {**crud.add(conn, Run, values), "backend": backend}


def create_with_thread(conn: Connection, fields: dict[str, Any], resolve: Resolver,
                       expires_after: int = EXPIRES_AFTER,
                       run_id: str | None = None) -> tuple[dict, dict]:
    """POST /threads/runs: a new thread and its first run, in one transaction."""
    crud.get(conn, Assistant, "assistant", fields["assistant_id"])
    thread = threads.create(conn, fields.get("thread") or {})
    return thread, create(conn, thread["id"], fields, resolve, expires_after, run_id)


def _check_tool_choice(fields: dict[str, Any], assistant: dict[str, Any]) -> None:
    choice = fields.get("tool_choice")
    tools = fields["tools"] if fields.get("tools") is not None else assistant["tools"]
    if isinstance(choice, dict):
        if choice["type"] == "function":
            name = (choice.get("function") or {}).get("name")
            names = [t["function"]["name"] for t in tools if t["type"] == "function"]
            if name not in names:
                raise InvalidRequest(f"Invalid 'tool_choice': no function named '{name}' among "
                                     f"this run's tools {names}.", param="tool_choice")
        elif not any(t["type"] == choice["type"] for t in tools):
            raise InvalidRequest(f"Invalid 'tool_choice': the run has no {choice['type']} tool.",
                                 param="tool_choice")
    elif choice == "required" and not tools:
        raise InvalidRequest("Invalid 'tool_choice': 'required' needs at least one tool.",
                             param="tool_choice")


def _new_run(thread_id: str, assistant: dict, fields: dict[str, Any], expires_after: int,
             run_id: str | None) -> dict:
    def pick(key: str, default: Any) -> Any:
        value = fields.get(key)
        if value is None:
            value = assistant.get(key)
        return default if value is None else value

    instructions = fields.get("instructions")
    if instructions is None:
        instructions = assistant["instructions"] or ""
    if fields.get("additional_instructions"):
        instructions = "\n\n".join(p for p in (instructions, fields["additional_instructions"]) if p)
    model = fields.get("model") or assistant["model"]
    truncation = fields.get("truncation_strategy") or {"type": "auto"}
    created = crud.now()
    return {
        "id": run_id or new_id("run"),
        "thread_id": thread_id,
        "assistant_id": assistant["id"],
        "created_at": created,
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": created + expires_after,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": model,
        "instructions": instructions,
        "tools": pick("tools", []),
        "tool_resources": fields.get("tool_resources"),
        "metadata": fields.get("metadata") or {},
        "usage": None,
        "temperature": pick("temperature", 1.0),
        "top_p": pick("top_p", 1.0),
        "max_prompt_tokens": fields.get("max_prompt_tokens"),
        "max_completion_tokens": fields.get("max_completion_tokens"),
        "truncation_strategy": {"type": truncation["type"],
                                "last_messages": truncation.get("last_messages")},
        "tool_choice": fields.get("tool_choice") or "auto",
        "parallel_tool_calls": fields.get("parallel_tool_calls", True) is not False,
        "response_format": pick("response_format", "auto"),
        "params": {"include": fields["include"]} if fields.get("include") else {},
    }


# --- the queue --------------------------------------------------------------------------------


def claim_next(conn: Connection, backend: str) -> dict[str, Any] | None:
    """Takes the longest-queued run for `backend` and marks it in_progress, or None.

    The conditional UPDATE makes the claim safe with several workers (or processes) racing.
    """
    t = crud.table_of(Run)
    run_id = conn.execute(
        select(t.c.id).where(t.c.status == "queued", t.c.backend == backend)
        .order_by(t.c.queued_ns, t.c.seq).limit(1)
    ).scalar()
    if run_id is None:
        return None
    now = crud.now()
    claimed = conn.execute(
        update(t).where(t.c.id == run_id, t.c.status == "queued")
        .values(status="in_progress", started_at=now)
    ).rowcount
    return load(conn, run_id) if claimed else None


def backends_with_work(conn: Connection) -> list[str]:
    t = crud.table_of(Run)
    return list(conn.execute(select(t.c.backend).where(t.c.status == "queued").distinct()).scalars())


# --- endings ----------------------------------------------------------------------------------


def finish(conn: Connection, run_id: str, status: str, **fields: Any) -> list[Event]:
    """Moves the run to a terminal status and closes its open step and message to match.

    Returns the events this caused, in stream order: closed message, closed step, then the run.
    """
    now = crud.now()
    values: dict[str, Any] = {"status": status, "expires_at": None, "required_action": None, **fields}
    stamp = {"completed": "completed_at", "incomplete": "completed_at", "failed": "failed_at",
             "cancelled": "cancelled_at"}.get(status)
    if stamp:
        values[stamp] = now
    crud.change(conn, Run, run_id, values)
    events = close_open_parts(conn, run_id, status)
    return [*events, (f"thread.run.{status}", crud.get(conn, Run, KIND, run_id))]


def close_open_parts(conn: Connection, run_id: str, status: str) -> list[Event]:
    now = crud.now()
    events: list[Event] = []
    msgs = crud.table_of(Message)
    if status in _MESSAGE_END:
        msg_values = {"status": "incomplete", "incomplete_at": now,
                      "incomplete_details": {"reason": _MESSAGE_END[status]}}
    else:
        msg_values = {"status": "completed", "completed_at": now}
    for message_id in _open(conn, msgs, run_id):
        crud.change(conn, Message, message_id, msg_values)
        events.append((f"thread.message.{msg_values['status']}", crud.get(conn, Message, "message", message_id)))
    steps = crud.table_of(RunStep)
    step_status = _STEP_END[status]
    for step_id in _open(conn, steps, run_id):
        crud.change(conn, RunStep, step_id, {"status": step_status, _STEP_STAMP[step_status]: now})
        events.append((f"thread.run.step.{step_status}", crud.get(conn, RunStep, STEP_KIND, step_id)))
    return events


def _open(conn: Connection, t: Any, run_id: str) -> list[str]:
    q = select(t.c.id).where(t.c.run_id == run_id, t.c.status == "in_progress").order_by(t.c.seq)
    return list(conn.execute(q).scalars())


def submit_outputs(conn: Connection, thread_id: str, run_id: str,
                   outputs: list[dict[str, str]]) -> tuple[dict[str, Any], list[Event]]:
    """Stores the outputs on the waiting tool_calls step and queues the run for its next turn."""
    run = crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    if run["status"] != "requires_action":
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
            + (f"; missing {missing}" if missing else "") + (f"; unknown {unknown}" if unknown else "")
            + ".", param="tool_outputs")
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
    crud.change(conn, Run, run_id, {"status": "queued", "required_action": None,
                                    "queued_ns": time.time_ns()})
    queued = load(conn, run_id)
    return queued, [("thread.run.step.completed", crud.get(conn, RunStep, STEP_KIND, step_id)),
                    ("thread.run.queued", queued)]


def request_cancel(conn: Connection, thread_id: str, run_id: str) -> tuple[dict[str, Any], str]:
    """Marks the run cancelling; returns it and the status it had, which says who finishes it."""
    run = crud.get_in_thread(conn, Run, KIND, run_id, thread_id)
    if run["status"] in TERMINAL:
        raise InvalidRequest(f"Cannot cancel run with status '{run['status']}'.")
    if run["status"] != "cancelling":
        crud.change(conn, Run, run_id, {"status": "cancelling"})
    return crud.get(conn, Run, KIND, run_id), run["status"]


def fail_interrupted(conn: Connection) -> list[str]:
    """At start-up: runs a dead process left active end failed, so none stays stuck."""
    t = crud.table_of(Run)
    ids = list(conn.execute(select(t.c.id).where(
        t.c.status.in_(("queued", "in_progress", "cancelling")))).scalars())
    for run_id in ids:
        finish(conn, run_id, "failed", last_error={"code": "server_error", "message": RESTARTED})
    return ids  # nobody watches runs of a dead process: no events


def expire_due(conn: Connection) -> list[tuple[str, list[Event]]]:
    """Runs still waiting (queued, or on tool outputs) past expires_at become expired."""
    t = crud.table_of(Run)
    ids = list(conn.execute(select(t.c.id).where(
        t.c.status.in_(("queued", "requires_action")), t.c.expires_at <= crud.now())).scalars())
    return [(run_id, finish(conn, run_id, "expired")) for run_id in ids]
