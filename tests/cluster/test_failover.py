"""kill -9 of a replica mid-run: its run ends failed (server_error) within the lease, the other
replicas' runs complete, and work still queued is taken by the survivors. Nothing stays stuck."""

from __future__ import annotations

import time

from cluster_fixtures import LEASE_S, a, api, cluster  # noqa: F401  (fixtures)

from runs_helpers import script, slow_reply, wait_for_text

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


def test_a_killed_replicas_run_fails_within_the_lease(cluster, a):  # noqa: F811
    doomed = cluster.replica("doomed")
    c = a.client()
    asst = c.beta.assistants.create(model="scripted")
    # One slow run for each working replica (a, b, doomed): a worker runs one turn at a time,
    # so each replica holds exactly one of them; the fourth waits in the queue.
    threads = [c.beta.threads.create(messages=[{"role": "user", "content": f"slow {i}"}])
               for i in range(4)]
    for t in threads:
        script(a, slow_reply(words=300, delay_ms=20), thread_id=t.id)  # ~6 s each
    runs = [c.beta.threads.runs.create(thread_id=t.id, assistant_id=asst.id) for t in threads]

    def statuses():
        return [c.beta.threads.runs.retrieve(r.id, thread_id=r.thread_id).status for r in runs]

    deadline = time.monotonic() + 30
    while statuses().count("in_progress") < 3:
        assert time.monotonic() < deadline, statuses()
        time.sleep(0.05)  # poll interval between GETs, not synchronisation

    for r, status in zip(runs, statuses(), strict=True):
        if status == "in_progress":
            wait_for_text(c, r.thread_id, r.id)  # mid-reply: a step and a message exist
    doomed.crash()
    killed_at = time.time()
    deadline = time.monotonic() + 60
    while True:
        now = statuses()
        if all(s in TERMINAL for s in now):
            break
        assert time.monotonic() < deadline, f"runs stuck after kill -9: {now}"
        time.sleep(0.1)  # poll interval between GETs, not synchronisation

    final = [c.beta.threads.runs.retrieve(r.id, thread_id=r.thread_id) for r in runs]
    failed = [r for r in final if r.status == "failed"]
    assert len(failed) == 1, [r.status for r in final]
    assert [r.status for r in final].count("completed") == 3
    (lost,) = failed
    assert lost.last_error.code == "server_error"
    # Ended within the lease of the kill (timestamps have one-second resolution).
    assert lost.failed_at <= killed_at + LEASE_S + 1
    steps = c.beta.threads.runs.steps.list(lost.id, thread_id=lost.thread_id).data
    assert [s.status for s in steps] == ["failed"]
    (msg,) = c.beta.threads.messages.list(lost.thread_id, run_id=lost.id).data
    assert msg.status == "incomplete" and msg.incomplete_details.reason == "run_failed"

    # The thread of the lost run is usable again, on the survivors.
    script(a, {"text": "back"}, thread_id=lost.thread_id)
    again = c.beta.threads.runs.create_and_poll(thread_id=lost.thread_id, assistant_id=asst.id,
                                                poll_interval_ms=50)
    assert again.status == "completed"
    c.close()


def code(source: str) -> dict:
    return {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": source}}]}


def kernel_home_pid(cluster, thread_id: str) -> int:  # noqa: F811
    """The pid of the replica holding the thread's kernel, read from the shared database: which
    replica to kill (replica names end in <pid>-<random>)."""
    import psycopg

    url = cluster.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        (name,) = conn.execute("SELECT replica FROM kernel_homes WHERE thread_id = %s",
                               (thread_id,)).fetchone()
    return int(name.split("-")[-2])


def test_when_a_kernels_replica_dies_the_next_cell_runs_on_a_fresh_kernel(cluster, api):  # noqa: F811
    cluster.replica("spare")  # a third working replica, so two remain after the kill
    c = api.client()
    asst = c.beta.assistants.create(model="scripted", tools=[{"type": "code_interpreter"}])
    thread = c.beta.threads.create(messages=[{"role": "user", "content": "keep x"}])
    script(api, code("x = 5\nprint(x)"), {"text": "ok"}, code("print(x)"), {"text": "ok"},
           thread_id=thread.id)
    first = c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                                poll_interval_ms=50)
    assert first.status == "completed", first.last_error

    pid = kernel_home_pid(cluster, thread.id)
    (home,) = [s for s in cluster.replicas.values() if s.proc is not None and s.proc.pid == pid]
    home.crash()
    try:
        c.beta.threads.messages.create(thread.id, role="user", content="and now?")
        second = c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                                     poll_interval_ms=50)
        assert second.status == "completed", second.last_error
        steps = c.beta.threads.runs.steps.list(second.id, thread_id=thread.id, order="asc").data
        logs = "".join(o.logs for o in steps[0].step_details.tool_calls[0].code_interpreter.outputs
                       if o.type == "logs")
        assert "NameError" in logs  # a fresh kernel: x is gone, and the run still completes
        assert kernel_home_pid(cluster, thread.id) != pid
    finally:
        home.start()  # the fixtures' replicas serve the tests after this one
    c.close()


def test_a_hung_replicas_run_fails_when_its_lease_lapses(cluster, api):  # noqa: F811
    """SIGSTOP: the replica keeps its connections (so it still looks alive) but stops renewing;
    its run fails once the lease lapses. Woken again, it cannot overwrite that ending."""
    import os
    import signal

    import psycopg

    c = api.client()
    asst = c.beta.assistants.create(model="scripted")
    thread = c.beta.threads.create(messages=[{"role": "user", "content": "slow"}])
    script(api, slow_reply(words=600, delay_ms=20), thread_id=thread.id)  # ~12 s
    run = c.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    wait_for_text(c, thread.id, run.id)
    url = cluster.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        (owner,) = conn.execute("SELECT claimed_by FROM runs WHERE id = %s", (run.id,)).fetchone()
    pid = int(owner.split("-")[-2])
    os.kill(pid, signal.SIGSTOP)
    stopped_at = time.time()
    try:
        ended = c.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=100)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert ended.status == "failed" and ended.last_error.code == "server_error"
    assert "lease" in ended.last_error.message
    assert ended.failed_at <= stopped_at + 2 * LEASE_S + 1
    # The woken replica's turn finds the run ended: nothing it writes changes that.
    script(api, {"text": "after"}, thread_id=thread.id)
    again = c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                                poll_interval_ms=50)
    assert again.status == "completed"
    assert c.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "failed"
    c.close()
