"""A run a dead process left behind ends failed on the next start; the thread stays usable."""

from __future__ import annotations

from runs_helpers import script, slow_reply, wait_for_text


def test_killed_mid_run_fails_on_restart(start_server):
    server = start_server("recovery")
    with server.client() as c:
        asst = c.beta.assistants.create(model="scripted")
        thread = c.beta.threads.create(messages=[{"role": "user", "content": "long one"}])
        script(server, slow_reply(words=400, delay_ms=20), thread_id=thread.id)
        run = c.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
        wait_for_text(c, thread.id, run.id)  # mid-reply: step and message exist

    server.crash()
    server.start()

    with server.client() as c:
        run = c.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert run.status == "failed"
        assert run.last_error.code == "server_error" and "restarted" in run.last_error.message
        assert run.failed_at is not None and run.expires_at is None
        steps = c.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
        assert [s.status for s in steps] == ["failed"]
        msgs = c.beta.threads.messages.list(thread.id, run_id=run.id).data
        assert [m.status for m in msgs] == ["incomplete"]
        assert msgs[0].incomplete_details.reason == "run_failed"

        again = c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
        assert again.status == "completed"


def test_a_run_left_waiting_past_expires_at_expires(start_server):
    server = start_server("expiry", env={"AIRLOCK_RUN_EXPIRES_AFTER_S": "2"})
    with server.client() as c:
        asst = c.beta.assistants.create(model="scripted")
        busy = c.beta.threads.create(messages=[{"role": "user", "content": "busy"}])
        waiting = c.beta.threads.create(messages=[{"role": "user", "content": "waiting"}])
        script(server, slow_reply(words=400, delay_ms=20), thread_id=busy.id)
        first = c.beta.threads.runs.create(thread_id=busy.id, assistant_id=asst.id)
        wait_for_text(c, busy.id, first.id)
        queued = c.beta.threads.runs.create(thread_id=waiting.id, assistant_id=asst.id)
        assert queued.expires_at == queued.created_at + 2

        expired = c.beta.threads.runs.poll(queued.id, thread_id=waiting.id)
        assert expired.status == "expired" and expired.expires_at is None
        c.beta.threads.runs.cancel(first.id, thread_id=busy.id)
        assert c.beta.threads.runs.poll(first.id, thread_id=busy.id).status == "cancelled"
