"""Two working replicas, 200 runs created concurrently through each: every run is executed
exactly once. Each run consumes one reply of one global scripted queue, so a run executed twice
would show a reply twice (or leave another run without one: the cluster's scripted model is
strict and fails a turn that finds none)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from cluster_fixtures import a, b, cluster  # noqa: F401  (fixtures)

from runs_helpers import clear_script, script

PER_REPLICA = 200
DEADLINE_S = 240.0
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


def test_every_run_executes_exactly_once(a, b):  # noqa: F811
    clear_script(a)
    total = 2 * PER_REPLICA
    replies = [f"reply number {i}" for i in range(total)]
    script(a, *({"text": r} for r in replies))
    ca, cb = a.client(), b.client()
    asst = ca.beta.assistants.create(model="scripted")

    def create(i: int):
        c = ca if i % 2 else cb
        return c.beta.threads.create_and_run(
            assistant_id=asst.id, thread={"messages": [{"role": "user", "content": f"run {i}"}]})

    def finish(run):
        # Polled through the replica the run was not created on.
        c = cb if run.id in by_a else ca
        deadline = time.monotonic() + DEADLINE_S
        while True:
            got = c.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
            if got.status in TERMINAL:
                return got
            assert time.monotonic() < deadline, f"run {run.id} stuck in {got.status}"
            time.sleep(0.1)  # poll interval between GETs, not synchronisation

    with ThreadPoolExecutor(32) as pool:
        started = time.monotonic()
        runs = list(pool.map(create, range(total)))
        by_a = {r.id for i, r in enumerate(runs) if i % 2}
        done = list(pool.map(finish, runs))
        elapsed = time.monotonic() - started
    print(f"\n{total} scripted runs through 2 replicas in {elapsed:.1f} s "
          f"({total / elapsed:.1f} runs/s)")

    assert [r.status for r in done if r.status != "completed"] == []

    def texts(run):
        c = ca if run.id in by_a else cb
        msgs = c.beta.threads.messages.list(run.thread_id).data
        assistant = [m for m in msgs if m.role == "assistant"]
        steps = c.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data
        assert [s.type for s in steps] == ["message_creation"]
        return [m.content[0].text.value for m in assistant]

    with ThreadPoolExecutor(16) as pool:
        seen = [t for ts in pool.map(texts, done) for t in ts]
    assert sorted(seen) == sorted(replies)  # each reply once: each run executed once
    r = httpx.get(f"{a.root_url}/airlock/v1/scripted/replies")
    assert r.status_code == 200 and r.json()["replies"] == []
    ca.close()
    cb.close()
