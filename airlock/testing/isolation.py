"""Per-test isolation: what a test created is deleted after it, so the next test's lists and
queues start as this one's did.

Assistants, files and vector stores are listed before and after the test, and the new ids
deleted. Threads cannot be listed (neither by OpenAI's API nor airlock's), so the threads deleted
are those the handle's clients created; runs still active on any thread they used are cancelled
first, so a slow scripted reply does not hold the model for the next test.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from airlock.testing.handle import Airlock, AirlockError

# Deleted in this order: a vector store before the files in it.
LISTED = (("vector_stores", 100), ("files", 10000), ("assistants", 100))
ACTIVE = {"queued", "in_progress", "requires_action", "cancelling"}
STOP_WAIT_S = 30.0


@dataclass(frozen=True)
class Snapshot:
    ids: dict[str, set[str]]


def snapshot(airlock: Airlock) -> Snapshot:
    return Snapshot({kind: _list_ids(airlock.http, kind, limit) for kind, limit in LISTED})


def clean_up(airlock: Airlock, before: Snapshot) -> None:
    # Runs stop before the scripted queues are emptied: a run still queued would otherwise
    # start with its reply gone and fail (strict mode) instead of ending cancelled.
    for thread_id in sorted(airlock.threads.used):
        _stop_runs(airlock.http, thread_id)
    airlock.clear()
    for thread_id in sorted(airlock.threads.created):
        _delete(airlock.http, f"/v1/threads/{thread_id}")
    for kind, limit in LISTED:
        for obj_id in sorted(_list_ids(airlock.http, kind, limit) - before.ids[kind]):
            _delete(airlock.http, f"/v1/{kind}/{obj_id}")


def _list_ids(http: httpx.Client, kind: str, limit: int) -> set[str]:
    ids: set[str] = set()
    params: dict[str, str | int] = {"limit": limit, "order": "asc"}
    while True:
        page = _ok(http.get(f"/v1/{kind}", params=params)).json()
        ids.update(obj["id"] for obj in page["data"])
        if not page["has_more"]:
            return ids
        params["after"] = page["last_id"]


def _stop_runs(http: httpx.Client, thread_id: str) -> None:
    response = http.get(f"/v1/threads/{thread_id}/runs", params={"limit": 100})
    if response.status_code == 404:  # the test deleted it
        return
    active = [r["id"] for r in _ok(response).json()["data"] if r["status"] in ACTIVE]
    for run_id in active:
        # 400: it ended between the list and the cancel.
        _ok(http.post(f"/v1/threads/{thread_id}/runs/{run_id}/cancel"), also=(400, 404))
    for run_id in active:
        _wait_stopped(http, thread_id, run_id)


def _wait_stopped(http: httpx.Client, thread_id: str, run_id: str) -> None:
    """A cancelled run stops within a scripted word; deleting its thread before then would pull
    the rows out from under the model worker."""
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        response = http.get(f"/v1/threads/{thread_id}/runs/{run_id}")
        if response.status_code == 404 or _ok(response).json()["status"] not in ACTIVE:
            return
        time.sleep(0.05)
    raise AirlockError(f"run {run_id} on thread {thread_id} did not stop within {STOP_WAIT_S:.0f} s "
                       "of its cancel, after the test")


def _delete(http: httpx.Client, path: str) -> None:
    _ok(http.delete(path), also=(404,))  # 404: the test deleted it itself


def _ok(response: httpx.Response, also: tuple[int, ...] = ()) -> httpx.Response:
    if response.status_code != 200 and response.status_code not in also:
        request = response.request
        raise AirlockError(f"cleaning up after the test: {request.method} {request.url.path} answered "
                           f"{response.status_code}: {response.text}")
    return response
