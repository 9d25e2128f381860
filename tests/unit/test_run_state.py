"""Run status transitions (airlock/engine/run_state.py) on a real SQLite store."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airlock.engine import run_state
from airlock.engine.run_state import RunStatus, ToolIO, Usage
from airlock.errors import InvalidRequest, NotFound
from airlock.store import crud
from airlock.store.tables import INTERNAL, Message, RunStep

S = RunStatus
ALL = list(RunStatus)
NOT_TERMINAL = sorted(run_state.ACTIVE)
TERMINAL = sorted(run_state.TERMINAL)
CALLS: list[dict[str, Any]] = [
    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
    {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": '{"x": 1}'}},
]
REQUIRED = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": CALLS}}
TOOL_STEP = {"type": "tool_calls", "tool_calls": [
    {**c, "function": {**c["function"], "output": None}} for c in CALLS]}
USAGE = Usage.of(30, 7, 0).wire()


def names(events):
    return [name for name, _ in events]


def write(db, fn, *args, **kwargs):
    with db.store.begin() as conn:
        return fn(conn, *args, **kwargs)


def status(db, run_id):
    return db.row(run_id)["status"]


def waiting_run(db, **fields):
    """A run waiting on outputs for CALLS, with its open tool_calls step."""
    run_id = db.run("requires_action", required_action=REQUIRED, **fields)
    return run_id, db.step(run_id, TOOL_STEP)


# --- claim ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ALL)
def test_claim_takes_only_queued_runs(db, start):
    run_id = db.run(start)
    before = crud.now()
    claimed = write(db, run_state.claim_next, "scripted")
    if start is S.QUEUED:
        assert claimed is not None and claimed.id == run_id
        assert claimed.status is S.IN_PROGRESS
        assert claimed.row["status"] == "in_progress"
        assert before <= claimed.row["started_at"] <= crud.now()
    else:
        assert claimed is None
        assert status(db, run_id) == start


def test_claim_order_is_fifo_by_queue_position_then_insertion(db):
    late = db.run(queued_ns=300)
    early = db.run(queued_ns=100)
    tie_first = db.run(queued_ns=200)
    tie_second = db.run(queued_ns=200)
    got = [write(db, run_state.claim_next, "scripted").id for _ in range(4)]
    assert got == [early, tie_first, tie_second, late]
    assert write(db, run_state.claim_next, "scripted") is None


def test_claim_is_per_backend(db):
    other = db.run(backend="other-model", queued_ns=1)
    mine = db.run(queued_ns=2)
    assert sorted(write(db, run_state.backends_with_work)) == ["other-model", "scripted"]
    assert write(db, run_state.claim_next, "scripted").id == mine
    assert write(db, run_state.claim_next, "scripted") is None
    assert status(db, other) == "queued"
    assert write(db, run_state.backends_with_work) == ["other-model"]


def test_create_queues_the_run(db):
    values = {k: v for k, v in db.row(db.run()).items() if k not in ("seq", "status")}
    values["id"] = "run_created"
    before = time.time_ns()
    wire = write(db, run_state.create, {**values, "queued_ns": None})
    assert wire["status"] == "queued" and not INTERNAL & wire.keys()
    row = db.row("run_created")
    assert row["status"] == "queued" and row["queued_ns"] >= before


# --- finishing a turn -----------------------------------------------------------------------------


@pytest.mark.parametrize("ending", [S.COMPLETED, S.INCOMPLETE])
@pytest.mark.parametrize("start", ALL)
def test_finish_turn_moves_only_in_progress_runs(db, start, ending):
    run_id = db.run(start)
    before = db.row(run_id)
    events = write(db, run_state.finish_turn, db.record(run_id), ending, usage=USAGE)
    if start is S.IN_PROGRESS:
        assert names(events) == [f"thread.run.{ending}"]
        assert status(db, run_id) == ending
    elif start is S.CANCELLING:  # a cancel that arrived meanwhile wins
        assert names(events) == ["thread.run.cancelled"]
        assert status(db, run_id) == "cancelled"
    else:
        assert events == []
        assert db.row(run_id) == before


def test_completed_closes_message_then_step_then_run(db):
    run_id = db.run("in_progress", required_action=None)
    message_id, step_id = db.message(run_id), db.step(run_id)
    before = crud.now()
    events = write(db, run_state.finish_turn, db.record(run_id), S.COMPLETED, usage=USAGE)
    after = crud.now()
    assert names(events) == ["thread.message.completed", "thread.run.step.completed",
                             "thread.run.completed"]
    message, step, run = (data for _, data in events)
    assert message["id"] == message_id and message["status"] == "completed"
    assert before <= message["completed_at"] <= after and message["incomplete_details"] is None
    assert step["id"] == step_id and step["status"] == "completed"
    assert before <= step["completed_at"] <= after
    assert run["id"] == run_id and run["status"] == "completed"
    assert before <= run["completed_at"] <= after
    assert run["failed_at"] is None and run["cancelled_at"] is None
    assert run["expires_at"] is None and run["usage"] == USAGE
    assert not INTERNAL & run.keys()  # events carry the wire object
    assert db.get(Message, message_id)["status"] == "completed"
    assert db.get(RunStep, step_id)["status"] == "completed"


def test_incomplete_marks_the_message_out_of_tokens(db):
    run_id = db.run("in_progress")
    message_id, step_id = db.message(run_id), db.step(run_id)
    events = write(db, run_state.finish_turn, db.record(run_id), S.INCOMPLETE, usage=USAGE,
                   incomplete_details={"reason": "max_completion_tokens"})
    assert names(events) == ["thread.message.incomplete", "thread.run.step.completed",
                             "thread.run.incomplete"]
    message, step, run = (data for _, data in events)
    assert message["incomplete_details"] == {"reason": "max_tokens"}
    assert message["incomplete_at"] is not None and message["completed_at"] is None
    assert step["status"] == "completed"
    assert run["incomplete_details"] == {"reason": "max_completion_tokens"}
    assert run["completed_at"] is not None and run["expires_at"] is None
    assert db.get(Message, message_id)["status"] == "incomplete"
    assert db.get(RunStep, step_id)["completed_at"] is not None


def test_only_open_messages_and_steps_of_the_run_are_closed(db):
    run_id = db.run("in_progress")
    other = db.run("in_progress", thread_id=db.thread())
    done_step = db.step(run_id, status="completed")
    first, second = db.step(run_id), db.step(run_id)
    other_step, other_message = db.step(other), db.message(other)
    events = write(db, run_state.finish_turn, db.record(run_id), S.COMPLETED)
    assert [(n, d["id"]) for n, d in events] == [
        ("thread.run.step.completed", first), ("thread.run.step.completed", second),
        ("thread.run.completed", run_id)]
    assert db.get(RunStep, done_step)["completed_at"] is None  # left as it was
    assert db.get(RunStep, other_step)["status"] == "in_progress"
    assert db.get(Message, other_message)["status"] == "in_progress"


def test_finishing_a_finished_run_changes_nothing(db):
    run_id = db.run("in_progress")
    record = db.record(run_id)
    assert names(write(db, run_state.finish_turn, record, S.COMPLETED)) == ["thread.run.completed"]
    finished = db.row(run_id)
    for ending in (S.COMPLETED, S.INCOMPLETE, S.FAILED):
        assert write(db, run_state.finish_turn, record, ending, last_error={"code": "x"}) == []
    assert write(db, run_state.fail, run_id, "late") == []
    assert db.row(run_id) == finished


# --- cancelling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [S.QUEUED, S.IN_PROGRESS, S.REQUIRES_ACTION])
def test_request_cancel_marks_active_runs_cancelling(db, start):
    run_id = db.run(start)
    run, was = write(db, run_state.request_cancel, db.thread_id, run_id)
    assert was == start
    assert run["status"] == "cancelling" and status(db, run_id) == "cancelling"
    assert run["cancelled_at"] is None  # not cancelled yet
    again, was_again = write(db, run_state.request_cancel, db.thread_id, run_id)
    assert was_again == "cancelling" and again["status"] == "cancelling"


@pytest.mark.parametrize("start", TERMINAL)
def test_request_cancel_refuses_ended_runs(db, start):
    run_id = db.run(start)
    before = db.row(run_id)
    with pytest.raises(InvalidRequest, match="Cannot cancel run"):
        write(db, run_state.request_cancel, db.thread_id, run_id)
    assert db.row(run_id) == before


def test_request_cancel_checks_thread_then_run(db):
    run_id = db.run()
    with pytest.raises(NotFound, match="thread"):
        write(db, run_state.request_cancel, "thread_missing", run_id)
    with pytest.raises(NotFound, match="run"):
        write(db, run_state.request_cancel, db.thread(), run_id)
    assert status(db, run_id) == "queued"


@pytest.mark.parametrize("start", ALL)
def test_cancel_waiting_ends_only_cancelling_runs(db, start):
    run_id = db.run(start)
    events = write(db, run_state.cancel_waiting, run_id)
    if start is S.CANCELLING:
        assert names(events) == ["thread.run.cancelled"]
        assert status(db, run_id) == "cancelled"
    else:
        assert events == [] and status(db, run_id) == start


def test_cancelled_waiting_run_closes_its_tool_step(db):
    run_id, step_id = waiting_run(db)
    write(db, run_state.request_cancel, db.thread_id, run_id)
    before = crud.now()
    events = write(db, run_state.cancel_waiting, run_id)
    assert names(events) == ["thread.run.step.cancelled", "thread.run.cancelled"]
    step, run = events[0][1], events[1][1]
    assert step["id"] == step_id and step["status"] == "cancelled"
    assert step["cancelled_at"] >= before
    assert run["cancelled_at"] >= before and run["completed_at"] is None
    assert run["required_action"] is None and run["expires_at"] is None


def test_cancel_arriving_while_the_worker_finishes_wins(db):
    run_id = db.run("in_progress")
    record = db.record(run_id)
    message_id, step_id = db.message(run_id), db.step(run_id)
    write(db, run_state.request_cancel, db.thread_id, run_id)
    events = write(db, run_state.finish_turn, record, S.COMPLETED, usage=USAGE,
                   incomplete_details={"reason": "max_completion_tokens"},
                   last_error={"code": "server_error", "message": "x"})
    assert names(events) == ["thread.message.incomplete", "thread.run.step.cancelled",
                             "thread.run.cancelled"]
    assert events[0][1]["incomplete_details"] == {"reason": "run_cancelled"}
    run = events[-1][1]
    assert run["status"] == "cancelled" and run["usage"] == USAGE  # usage is kept
    assert run["incomplete_details"] is None and run["last_error"] is None
    assert run["cancelled_at"] is not None and run["completed_at"] is None
    assert db.get(Message, message_id)["status"] == "incomplete"
    assert db.get(RunStep, step_id)["status"] == "cancelled"


def test_cancel_wins_over_a_failing_turn_too(db):
    run_id = db.run("in_progress")
    record = db.record(run_id)
    write(db, run_state.request_cancel, db.thread_id, run_id)
    events = write(db, run_state.finish_turn, record, S.FAILED,
                   last_error={"code": "server_error", "message": "boom"})
    assert names(events) == ["thread.run.cancelled"]
    assert db.row(run_id)["last_error"] is None


# --- waiting on tool outputs ----------------------------------------------------------------------


@pytest.mark.parametrize("start", ALL)
def test_require_action_only_from_in_progress(db, start):
    run_id = db.run(start)
    record = db.record(run_id)
    record.params.usage = Usage.of(10, 5, 2)
    before = db.row(run_id)
    events = write(db, run_state.require_action, record, REQUIRED)
    if start is S.IN_PROGRESS:
        assert names(events) == ["thread.run.requires_action"]
        run = events[0][1]
        assert run["status"] == "requires_action" and run["required_action"] == REQUIRED
        assert db.row(run_id)["params"] == {"usage": Usage.of(10, 5, 2).wire()}
    elif start is S.CANCELLING:  # the cancel wins; the usage so far is kept
        assert names(events) == ["thread.run.cancelled"]
        run = events[0][1]
        assert run["usage"] == Usage.of(10, 5, 2).wire() and run["required_action"] is None
    else:
        assert events == [] and db.row(run_id) == before


def test_require_action_after_cancel_closes_the_tool_step(db):
    run_id = db.run("in_progress")
    step_id = db.step(run_id, TOOL_STEP)
    record = db.record(run_id)
    write(db, run_state.request_cancel, db.thread_id, run_id)
    events = write(db, run_state.require_action, record, REQUIRED)
    assert [(n, d["id"]) for n, d in events] == [("thread.run.step.cancelled", step_id),
                                                 ("thread.run.cancelled", run_id)]
    assert events[-1][1]["usage"] is None  # no turn had spent tokens


def test_require_action_saves_builtin_tool_io(db):
    run_id = db.run("in_progress")
    record = db.record(run_id)
    record.params.tool_io["call_fs"] = ToolIO(name="file_search", output="found")
    write(db, run_state.require_action, record, REQUIRED)
    assert db.record(run_id).params.tool_io["call_fs"].output == "found"


def test_submit_outputs_requeues_the_run_behind_earlier_runs(db):
    run_id, step_id = waiting_run(db, queued_ns=1)
    other = db.run("queued", thread_id=db.thread(), queued_ns=time.time_ns())
    outputs = [{"tool_call_id": "call_2", "output": "two"},
               {"tool_call_id": "call_1", "output": "one"}]
    queued, events = write(db, run_state.submit_outputs, db.thread_id, run_id, outputs)
    assert queued["status"] == "queued" and queued["required_action"] is None
    assert queued["queued_ns"] > db.row(other)["queued_ns"] > 1
    assert [(n, d["id"]) for n, d in events] == [("thread.run.step.completed", step_id),
                                                 ("thread.run.queued", run_id)]
    step = db.get(RunStep, step_id)
    assert step["status"] == "completed" and step["completed_at"] is not None
    assert [(c["id"], c["function"]["output"]) for c in step["step_details"]["tool_calls"]] == [
        ("call_1", "one"), ("call_2", "two")]
    assert step["step_details"]["tool_calls"][1]["function"]["arguments"] == '{"x": 1}'
    assert events[0][1] == step
    # The run waits behind the run queued while it waited on outputs.
    assert write(db, run_state.claim_next, "scripted").id == other
    assert write(db, run_state.claim_next, "scripted").id == run_id


@pytest.mark.parametrize("start", [s for s in ALL if s is not S.REQUIRES_ACTION])
def test_submit_outputs_refuses_runs_not_waiting(db, start):
    run_id = db.run(start, required_action=REQUIRED)
    db.step(run_id, TOOL_STEP)
    outputs = [{"tool_call_id": c["id"], "output": "x"} for c in CALLS]
    with pytest.raises(InvalidRequest) as err:
        write(db, run_state.submit_outputs, db.thread_id, run_id, outputs)
    assert err.value.param == "run_id"
    assert status(db, run_id) == start


@pytest.mark.parametrize("given, words", [
    (["call_1"], "missing ['call_2']"),
    ([], "missing ['call_1', 'call_2']"),
    (["call_1", "call_2", "call_3"], "unknown ['call_3']"),
    (["call_1", "call_9"], "missing ['call_2']; unknown ['call_9']"),
    (["call_1", "call_1", "call_2"], "only once"),
    (["call_1", "call_1"], "only once"),
])
def test_submit_outputs_needs_exactly_the_pending_calls(db, given, words):
    run_id, step_id = waiting_run(db)
    before = db.row(run_id)
    outputs = [{"tool_call_id": i, "output": "x"} for i in given]
    with pytest.raises(InvalidRequest) as err:
        write(db, run_state.submit_outputs, db.thread_id, run_id, outputs)
    assert err.value.param == "tool_outputs"
    assert words in err.value.message
    assert db.row(run_id) == before
    assert db.get(RunStep, step_id)["status"] == "in_progress"


def test_submit_outputs_to_a_run_of_another_thread_is_not_found(db):
    run_id, _ = waiting_run(db)
    with pytest.raises(NotFound):
        write(db, run_state.submit_outputs, db.thread(), run_id,
              [{"tool_call_id": c["id"], "output": "x"} for c in CALLS])
    assert status(db, run_id) == "requires_action"


# --- failing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ALL)
def test_fail_ends_active_runs_only(db, start):
    run_id = db.run(start, required_action=REQUIRED if start is S.REQUIRES_ACTION else None)
    before = db.row(run_id)
    events = write(db, run_state.fail, run_id, "It broke.", code="invalid_prompt")
    if start in run_state.ACTIVE:
        assert names(events) == ["thread.run.failed"]
        run = events[0][1]
        assert run["status"] == "failed" and run["failed_at"] is not None
        assert run["last_error"] == {"code": "invalid_prompt", "message": "It broke."}
        assert run["required_action"] is None and run["expires_at"] is None
        assert run["completed_at"] is None and run["cancelled_at"] is None
    else:
        assert events == [] and db.row(run_id) == before


def test_failed_run_closes_message_and_step_failed(db):
    run_id = db.run("in_progress")
    message_id, step_id = db.message(run_id), db.step(run_id)
    events = write(db, run_state.fail, run_id, "It broke.")
    assert names(events) == ["thread.message.incomplete", "thread.run.step.failed",
                             "thread.run.failed"]
    assert events[0][1]["incomplete_details"] == {"reason": "run_failed"}
    assert events[1][1]["failed_at"] is not None
    assert events[2][1]["last_error"] == {"code": "server_error", "message": "It broke."}
    assert db.get(Message, message_id)["incomplete_at"] is not None
    assert db.get(RunStep, step_id)["status"] == "failed"


def test_fail_interrupted_fails_worked_runs_but_not_waiting_ones(db):
    ids = {start: db.run(start, thread_id=db.thread()) for start in ALL}
    message_id = db.message(ids[S.IN_PROGRESS])
    before = {s: db.row(ids[s]) for s in ALL}
    failed = write(db, run_state.fail_interrupted)
    worked = {S.QUEUED, S.IN_PROGRESS, S.CANCELLING}
    assert sorted(failed) == sorted(ids[s] for s in worked)
    for start, run_id in ids.items():
        row = db.row(run_id)
        if start in worked:
            assert row["status"] == "failed"
            assert row["last_error"] == {"code": "server_error", "message": run_state.RESTARTED}
        else:
            assert row == before[start]
    assert db.get(Message, message_id)["incomplete_details"] == {"reason": "run_failed"}
    assert write(db, run_state.fail_interrupted) == []


# --- expiry ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ALL)
def test_expire_due_expires_only_waiting_runs(db, start):
    run_id = db.run(start, expires_at=crud.now() - 1,
                    required_action=REQUIRED if start is S.REQUIRES_ACTION else None)
    before = db.row(run_id)
    expired = write(db, run_state.expire_due)
    if start in (S.QUEUED, S.REQUIRES_ACTION):
        assert [(i, names(e)) for i, e in expired] == [(run_id, ["thread.run.expired"])]
        row = db.row(run_id)
        assert row["status"] == "expired"
        assert row["expires_at"] is None and row["required_action"] is None
    else:
        assert expired == [] and db.row(run_id) == before


def test_expire_due_waits_for_expires_at(db):
    now = crud.now()
    due = db.run("requires_action", expires_at=now, required_action=REQUIRED)
    later = db.run("queued", thread_id=db.thread(), expires_at=now + 60)
    never = db.run("queued", thread_id=db.thread(), expires_at=None)
    assert [i for i, _ in write(db, run_state.expire_due)] == [due]
    assert status(db, later) == "queued" and status(db, never) == "queued"
    assert write(db, run_state.expire_due) == []


def test_expired_run_closes_its_tool_step(db):
    run_id, step_id = waiting_run(db, expires_at=crud.now() - 5)
    message_id = db.message(run_id)
    [(expired_id, events)] = write(db, run_state.expire_due)
    assert expired_id == run_id
    assert names(events) == ["thread.message.incomplete", "thread.run.step.expired",
                             "thread.run.expired"]
    assert events[0][1]["incomplete_details"] == {"reason": "run_expired"}
    assert events[1][1]["status"] == "expired" and events[1][1]["expired_at"] is not None
    assert db.get(RunStep, step_id)["status"] == "expired"
    assert db.get(Message, message_id)["status"] == "incomplete"


def test_expired_run_no_longer_accepts_outputs(db):
    run_id, _ = waiting_run(db, expires_at=crud.now() - 1)
    write(db, run_state.expire_due)
    with pytest.raises(InvalidRequest) as err:
        write(db, run_state.submit_outputs, db.thread_id, run_id,
              [{"tool_call_id": c["id"], "output": "x"} for c in CALLS])
    assert err.value.param == "run_id"


# --- lookups --------------------------------------------------------------------------------------


def test_active_run_id_is_the_threads_active_run(db):
    assert write(db, run_state.active_run_id, db.thread_id) is None
    for ended in TERMINAL:
        db.run(ended)
    assert write(db, run_state.active_run_id, db.thread_id) is None
    db.run("in_progress", thread_id=db.thread())  # another thread's
    assert write(db, run_state.active_run_id, db.thread_id) is None
    for start in NOT_TERMINAL:
        run_id = db.run(start, thread_id=(thread := db.thread()))
        assert write(db, run_state.active_run_id, thread) == run_id


def test_run_record_reads_the_row(db):
    run_id = db.run("queued", tools=[{"type": "file_search"}], backend=None,
                    params={"include": ["x"], "usage": Usage.of(1, 2, 0).wire(),
                            "tool_io": {"call_1": {"name": "file_search"}}})
    record = db.record(run_id)
    assert record.status is S.QUEUED and record.backend == ""
    assert record.has_tool("file_search") and not record.has_tool("code_interpreter")
    assert record.params.include == ["x"] and record.params.usage.total_tokens == 3
    assert record.params.used() == ["file_search"]
    assert write(db, run_state.status_of, run_id) is S.QUEUED
    with pytest.raises(LookupError):
        write(db, run_state.load, "run_missing")


def test_usage_adds_up():
    total = Usage.of(10, 5, 3).plus(Usage.of(20, 1, 4))
    assert total.wire() == {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36,
                            "prompt_token_details": {"cached_tokens": 7}}
