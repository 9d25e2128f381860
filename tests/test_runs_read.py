from __future__ import annotations

import pytest

from helpers import assert_not_found, assert_param, bad_request, list_envelope


@pytest.fixture
def thread(client):
    return client.beta.threads.create()


def test_fresh_thread_has_no_runs(client, raw, thread):
    page = client.beta.threads.runs.list(thread.id)
    assert page.data == [] and page.has_more is False
    body = list_envelope(raw.get(f"/threads/{thread.id}/runs"))
    assert body["data"] == [] and body["first_id"] is None and body["last_id"] is None


def test_unknown_run_is_404(client, thread):
    runs = client.beta.threads.runs
    assert_not_found("run", "run_nope", runs.retrieve, "run_nope", thread_id=thread.id)
    assert_not_found("run", "run_nope", runs.update, "run_nope", thread_id=thread.id, metadata={"a": "b"})


def test_steps_of_unknown_run_are_404(client, thread):
    steps = client.beta.threads.runs.steps
    assert_not_found("run", "run_nope", steps.list, "run_nope", thread_id=thread.id)
    assert_not_found("run", "run_nope", steps.retrieve, "step_nope", thread_id=thread.id, run_id="run_nope")


def test_runs_of_unknown_thread_are_404(client):
    assert_not_found("thread", "thread_nope", client.beta.threads.runs.list, "thread_nope")
    assert_not_found("thread", "thread_nope", client.beta.threads.runs.retrieve, "run_nope", thread_id="thread_nope")


def test_runs_list_validates_limit_and_order(client, thread):
    assert_param(bad_request(client.beta.threads.runs.list, thread.id, limit=101), "limit")
    assert_param(bad_request(client.beta.threads.runs.list, thread.id, order="up"), "order")
