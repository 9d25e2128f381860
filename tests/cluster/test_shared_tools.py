"""Tools across replicas: a file uploaded through one replica is searched by a run another
replica executes, and a thread's Python state survives its runs arriving through any replica."""

from __future__ import annotations

import pytest
from cluster_fixtures import a, api, b, cluster  # noqa: F401  (fixtures)

from runs_helpers import script

INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"


@pytest.fixture(scope="module")
def clients(a, b, api):  # noqa: F811
    made = {name: srv.client() for name, srv in (("a", a), ("b", b), ("api", api))}
    yield made
    for c in made.values():
        c.close()


def test_file_search_on_a_file_uploaded_through_another_replica(clients, a, api, tmp_path):  # noqa: F811
    ca, cb, capi = clients["a"], clients["b"], clients["api"]
    doc = tmp_path / "zorblax.txt"
    doc.write_text("The zorblax is a small purple animal that lives on the moons of Saturn "
                   "and eats copper wire for breakfast.\n" * 3)
    uploaded = ca.files.create(file=doc.open("rb"), purpose="assistants")
    # Served through another replica: the bytes are in the shared files dir.
    assert cb.files.content(uploaded.id).read() == doc.read_bytes()
    store = cb.vector_stores.create(name="moons")
    batch = cb.vector_stores.file_batches.create_and_poll(vector_store_id=store.id,
                                                          file_ids=[uploaded.id])
    assert batch.file_counts.completed == 1, batch.file_counts

    # Each working replica searches itself: one of them did not ingest the file, and still
    # finds it and reads its text: vectors in the Chroma server, chunk texts and keywords in
    # PostgreSQL.
    for c in (ca, cb):
        found = c.vector_stores.search(vector_store_id=store.id, query="copper wire").data
        assert [r.file_id for r in found] == [uploaded.id]
        assert "copper wire" in found[0].content[0].text

    asst = capi.beta.assistants.create(
        model="scripted", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = capi.beta.threads.create(messages=[{"role": "user", "content": "What eats copper?"}])
    script(api, {"tool_calls": [{"type": "file_search",
                                 "file_search": {"query": "animal that eats copper wire"}}]},
           {"text": "The zorblax."}, thread_id=thread.id)
    run = capi.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                                 poll_interval_ms=50)
    assert run.status == "completed", run.last_error
    steps = capi.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=[INCLUDE]).data
    (tool_step,) = [s for s in steps if s.type == "tool_calls"]
    results = tool_step.step_details.tool_calls[0].file_search.results
    assert results and results[0].file_id == uploaded.id
    assert "copper wire" in results[0].content[0].text


def code(source: str) -> dict:
    return {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": source}}]}


def test_python_state_survives_runs_through_any_replica(clients, a):  # noqa: F811
    """Each run arrives through another replica; the thread's kernel lives on the replica that
    ran its first cell, and its later runs go there (without affinity each would land on either
    working replica, and lose `x`, half the time)."""
    ca = clients["a"]
    asst = ca.beta.assistants.create(model="scripted", tools=[{"type": "code_interpreter"}])
    thread = ca.beta.threads.create(messages=[{"role": "user", "content": "count"}])
    order = ["a", "b", "api", "b", "a", "api"]
    script(a, code("x = 0"), {"text": "ok"}, thread_id=thread.id)
    for _ in order[1:]:
        script(a, code("x += 1\nprint(x)"), {"text": "ok"}, thread_id=thread.id)
    seen = []
    for i, name in enumerate(order):
        c = clients[name]
        if i:
            c.beta.threads.messages.create(thread.id, role="user", content="again")
        run = c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                                  poll_interval_ms=50)
        assert run.status == "completed", run.last_error
        steps = c.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
        call = steps[0].step_details.tool_calls[0].code_interpreter
        seen.append("".join(o.logs for o in call.outputs if o.type == "logs").strip())
    assert seen == ["", "1", "2", "3", "4", "5"]
