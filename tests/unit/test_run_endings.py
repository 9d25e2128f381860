"""How a turn's ending lands (airlock/engine/run_state.py): the common case in one statement,
the final content and usage written by the statements that close the message and step, and
what happens when the run changed under the turn. test_run_state_pg.py runs these on
PostgreSQL too."""

from __future__ import annotations

import pytest

from airlock.engine import run_state
from airlock.engine.run_state import RunStatus
from airlock.store import crud, scripted_replies
from airlock.store.tables import Message, RunStep

S = RunStatus
CONTENT = [{"type": "text", "text": {"value": "All of it.", "annotations": []}}]
USAGE = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
         "prompt_token_details": {"cached_tokens": 0}}


def ending_of(message_id: str, step_id: str) -> dict:
    return {"message": (message_id, {"content": CONTENT}), "step": (step_id, {"usage": USAGE}),
            "usage": USAGE}


def statement(db, fn, *args, **kwargs):
    with db.store.statement() as conn:
        return fn(conn, *args, **kwargs)


def transaction(db, fn, *args, **kwargs):
    with db.store.begin() as conn:
        return fn(conn, *args, **kwargs)


def test_the_common_ending_is_one_statement_that_writes_content_and_usage(db):
    run_id = db.run("in_progress")
    message_id, step_id = db.message(run_id), db.step(run_id)
    events = statement(db, run_state.try_finish_turn, db.record(run_id), S.COMPLETED,
                       **ending_of(message_id, step_id))
    assert [name for name, _ in events] == ["thread.message.completed",
                                            "thread.run.step.completed", "thread.run.completed"]
    message, step, run = (data for _, data in events)
    assert message["content"] == CONTENT and step["usage"] == USAGE and run["usage"] == USAGE
    assert db.get(Message, message_id)["content"] == CONTENT
    assert db.get(RunStep, step_id)["usage"] == USAGE
    assert db.row(run_id)["status"] == "completed"


def test_the_other_open_rows_of_the_run_close_but_keep_their_values(db):
    run_id = db.run("in_progress")
    older = db.message(run_id)
    message_id, step_id = db.message(run_id), db.step(run_id)
    events = statement(db, run_state.try_finish_turn, db.record(run_id), S.COMPLETED,
                       **ending_of(message_id, step_id))
    assert [data["id"] for _, data in events[:2]] == [older, message_id]
    assert db.get(Message, older)["status"] == "completed"
    assert db.get(Message, older)["content"][0]["text"]["value"] == "Partial"


@pytest.mark.parametrize("start", [S.CANCELLING, S.FAILED, S.COMPLETED])
def test_a_run_that_changed_meanwhile_is_left_to_the_transaction(db, start):
    """The one-statement ending writes nothing; finish_turn then lets a cancel win, or keeps
    an ending a peer wrote while still storing the turn's text."""
    run_id = db.run(start)
    message_id, step_id = db.message(run_id), db.step(run_id)
    record = db.record(run_id)
    assert statement(db, run_state.try_finish_turn, record, S.COMPLETED,
                     **ending_of(message_id, step_id)) is None
    assert db.row(run_id)["status"] == start
    assert db.get(Message, message_id)["content"][0]["text"]["value"] == "Partial"
    events = transaction(db, run_state.finish_turn, record, S.COMPLETED,
                         **ending_of(message_id, step_id))
    assert db.get(Message, message_id)["content"] == CONTENT
    if start is S.CANCELLING:
        assert [name for name, _ in events][-1] == "thread.run.cancelled"
        assert db.get(Message, message_id)["status"] == "incomplete"
    else:
        assert events == [] and db.row(run_id)["status"] == start


def test_a_reply_whose_message_was_lost_fails_instead_of_completing(db):
    """A database crash may lose the reply's non-durable message: the run must not complete
    without it. The ending lands nothing, and the worker then fails the run."""
    run_id = db.run("in_progress")
    step_id = db.step(run_id)
    record = db.record(run_id)
    ending = ending_of("msg_lost", step_id)
    assert statement(db, run_state.try_finish_turn, record, S.COMPLETED, **ending) is None
    with pytest.raises(LookupError):
        transaction(db, run_state.finish_turn, record, S.COMPLETED, **ending)
    assert db.row(run_id)["status"] == "in_progress"
    assert db.get(RunStep, step_id)["status"] == "in_progress"
    events = transaction(db, run_state.fail, run_id, "The model failed: lost")
    assert [name for name, _ in events] == ["thread.run.step.failed", "thread.run.failed"]


def test_a_claim_is_one_statement(db):
    run_id = db.run()
    shared = db.store.is_shared  # kernel homes matter only between replicas (PostgreSQL)
    claimed = statement(db, run_state.claim_next, "scripted", "me", 5.0, elsewhere=shared)
    assert claimed is not None and claimed.id == run_id
    assert claimed.row["claimed_by"] == "me" and claimed.row["lease_until"] is not None
    assert statement(db, run_state.claim_next, "scripted", "me", 5.0, elsewhere=shared) is None


def test_a_scripted_reply_pop_is_one_statement_thread_replies_first(db):
    with db.store.begin() as conn:
        scripted_replies.push(conn, [{"text": "global 1"}, {"text": "global 2"}], None)
        scripted_replies.push(conn, [{"text": "mine"}], db.thread_id)
    got = [statement(db, scripted_replies.pop, db.thread_id) for _ in range(4)]
    assert got == [{"text": "mine"}, {"text": "global 1"}, {"text": "global 2"}, None]


def test_a_thread_objects_lookup_says_which_id_is_missing(db):
    from airlock.errors import NotFound
    from airlock.store.tables import Run

    run_id = db.run()
    with db.store.read_conn() as conn:
        assert crud.get_in_thread(conn, Run, "run", run_id, db.thread_id)["id"] == run_id
        with pytest.raises(NotFound, match="No thread found"):
            crud.get_in_thread(conn, Run, "run", run_id, "thread_missing")
        with pytest.raises(NotFound, match="run_missing"):
            crud.get_in_thread(conn, Run, "run", "run_missing", db.thread_id)
        with pytest.raises(NotFound, match="No run found"):
            crud.get_in_thread(conn, Run, "run", run_id, db.thread())  # another thread's
