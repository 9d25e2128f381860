"""Background responses across replicas: created and streamed through the API-only replica while
a working one runs them, replayed through a third; cancelled through a replica that does not run
them; and when the replica running one is killed, it ends failed within the lease while the
queued ones complete on the survivors (the lease thread
ends it; a response has no failed_at to time it by)."""

from __future__ import annotations

import time

import pytest
from cluster_fixtures import a, api, b, cluster  # noqa: F401  (fixtures)

from runs_helpers import clear_script, script, slow_reply, wait_response

ACTIVE = ("queued", "in_progress")


@pytest.fixture(scope="module")
def clients(a, b, api):  # noqa: F811
    made = {name: srv.client() for name, srv in (("a", a), ("b", b), ("api", api))}
    yield made
    for c in made.values():
        c.close()


def test_streamed_through_a_replica_that_does_not_run_it(clients, api):  # noqa: F811
    c = clients["api"]
    words = " ".join(f"w{i}" for i in range(60))
    script(api, {"text": words, "delay_ms": 5})
    with c.responses.create(model="scripted", input="count", background=True,
                            stream=True) as stream:
        live = [e.model_dump() for e in stream]
    assert [e["sequence_number"] for e in live] == list(range(len(live)))
    assert live[-1]["type"] == "response.completed"
    text = "".join(e["delta"] for e in live if e["type"] == "response.output_text.delta")
    assert text == words
    response_id = live[0]["response"]["id"]
    with clients["b"].responses.retrieve(response_id, stream=True) as again:
        assert [e.model_dump() for e in again] == live
    assert clients["a"].responses.retrieve(response_id).output_text == words


def test_a_cancel_through_another_replica_stops_the_turn(clients, api):  # noqa: F811
    c = clients["api"]
    script(api, slow_reply(words=2000, delay_ms=20))  # 40 s if not stopped
    r = c.responses.create(model="scripted", input="long", background=True)
    wait_response(c, r.id, lambda x: x.status == "in_progress")
    with c.responses.retrieve(r.id, stream=True) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
    assert c.responses.cancel(r.id).status == "cancelled"
    with clients["b"].responses.retrieve(r.id, stream=True) as stream:
        events = [e.model_dump() for e in stream]
    assert events[-1]["response"]["status"] == "cancelled"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert 0 < len(text.split()) < 1000
    # The worker that ran it is free again: a short response completes promptly.
    script(api, {"text": "free"})
    nxt = c.responses.create(model="scripted", input="x", background=True)
    assert wait_response(c, nxt.id, lambda x: x.status not in ACTIVE, 30).output_text == "free"


def test_a_killed_replicas_response_fails_within_the_lease(cluster, a):  # noqa: F811
    doomed = cluster.replica("doomed-bg")
    c = a.client()
    # One slow response for each working replica (a, b, doomed): each worker takes one; the
    # fourth waits in the queue until a survivor is free.
    for _ in range(4):
        script(a, slow_reply(words=300, delay_ms=20))  # ~6 s each
    made = [c.responses.create(model="scripted", input=f"slow {i}", background=True)
            for i in range(4)]

    def statuses():
        return [c.responses.retrieve(r.id).status for r in made]

    deadline = time.monotonic() + 30
    while statuses().count("in_progress") < 3:
        assert time.monotonic() < deadline, statuses()
        time.sleep(0.05)  # poll interval between GETs, not synchronisation
    doomed.crash()
    final = [wait_response(c, r.id, lambda x: x.status not in ACTIVE) for r in made]
    assert sorted(r.status for r in final) == ["completed", "completed", "completed", "failed"]
    (lost,) = [r for r in final if r.status == "failed"]
    assert lost.error.code == "server_error" and "restarted" in lost.error.message
    with c.responses.retrieve(lost.id, stream=True) as stream:
        events = [e.model_dump() for e in stream]
    assert events[-1]["type"] == "response.failed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    # A replica killed after claiming its response but before taking its scripted reply leaves
    # that reply queued (three of the four are consumed); the next tests script their own.
    clear_script(a)
    c.close()


def test_code_in_a_container_on_replicas(clients, api):  # noqa: F811
    """A response's code runs in its container's kernel on PostgreSQL replicas (the kernel's
    home is recorded by its key, a container's id as a thread's); a background one too."""
    c = clients["a"]
    box = c.containers.create(name="cluster")
    tools = [{"type": "code_interpreter", "container": box.id}]
    code = {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {
        "input": "x = 6 * 7\nprint(x)"}}]}
    script(api, code, {"text": "42."})
    r = c.responses.create(model="scripted", input="go", tools=tools,
                           include=["code_interpreter_call.outputs"])
    assert r.status == "completed" and r.output[0].outputs[0].logs.strip() == "42"
    script(api, code, {"text": "42 again."})
    bg = c.responses.create(model="scripted", input="go", tools=tools, background=True)
    done = wait_response(c, bg.id, lambda x: x.status not in ACTIVE)
    assert done.status == "completed" and done.output[0].container_id == box.id
    c.containers.delete(box.id)


def test_background_code_runs_where_its_containers_kernel_lives(clients, a, api):  # noqa: F811
    """As a thread's runs go to the replica holding its kernel: `a` ran the container's first
    code (its home); background responses made through `api` are each claimed by `a`, so the
    variable is there every time, never a fresh kernel on `b`."""
    box = clients["a"].containers.create(name="home")
    tools = [{"type": "code_interpreter", "container": box.id}]
    script(api, {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {
        "input": "x = 41"}}]}, {"text": "set"})
    clients["a"].responses.create(model="scripted", input="set", tools=tools)
    made = []
    for _ in range(4):
        script(api, {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {
            "input": "print(x + 1)"}}]}, {"text": "ok"})
        bg = clients["api"].responses.create(model="scripted", input="go", tools=tools,
                                             background=True,
                                             include=["code_interpreter_call.outputs"])
        made.append(wait_response(clients["api"], bg.id, lambda x: x.status not in ACTIVE))
    assert [r.output[0].outputs[0].logs.strip() for r in made] == ["42"] * 4
