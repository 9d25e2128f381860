"""Cursor pagination, shown on messages (the densest list) plus the limit rules of every list."""

from __future__ import annotations

import pytest

from helpers import assert_param, bad_request, envelope, ids, list_envelope

N = 25


@pytest.fixture(scope="module")
def filled(client):
    """A thread with N messages created back to back (many share one created_at second)."""
    t = client.beta.threads.create()
    created = [client.beta.threads.messages.create(t.id, role="user", content=f"m{i}").id for i in range(N)]
    return t.id, created


def listed(client, thread_id, **kwargs):
    return client.beta.threads.messages.list(thread_id, **kwargs)


def test_order_is_insertion_order(client, filled):
    tid, created = filled
    assert ids(listed(client, tid, order="asc", limit=100).data) == created
    assert ids(listed(client, tid, order="desc", limit=100).data) == created[::-1]
    assert ids(listed(client, tid, limit=100).data) == created[::-1]  # default order is desc


def test_default_limit_is_20(client, filled):
    tid, created = filled
    page = listed(client, tid)
    assert ids(page.data) == created[::-1][:20]
    assert page.has_more is True


def test_auto_pagination_visits_each_once(client, filled):
    tid, created = filled
    assert [m.id for m in listed(client, tid, limit=3, order="asc")] == created
    assert [m.id for m in listed(client, tid, limit=4, order="desc")] == created[::-1]


def test_page_envelope(raw, filled):
    tid, created = filled
    first = list_envelope(raw.get(f"/threads/{tid}/messages", params={"limit": 5, "order": "asc"}))
    assert [m["id"] for m in first["data"]] == created[:5]
    assert first["has_more"] is True
    last = list_envelope(raw.get(f"/threads/{tid}/messages",
                                 params={"limit": 5, "order": "asc", "after": created[19]}))
    assert [m["id"] for m in last["data"]] == created[20:]
    assert last["has_more"] is False


def test_after(client, filled):
    tid, created = filled
    assert ids(listed(client, tid, order="asc", after=created[9], limit=5).data) == created[10:15]
    assert ids(listed(client, tid, order="desc", after=created[9], limit=100).data) == created[:9][::-1]
    assert listed(client, tid, order="asc", after=created[-1]).data == []


def test_before(client, filled):
    tid, created = filled
    assert ids(listed(client, tid, order="asc", before=created[10], limit=100).data) == created[:10]
    assert ids(listed(client, tid, order="desc", before=created[10], limit=100).data) == created[11:][::-1]
    assert listed(client, tid, order="asc", before=created[0]).data == []
    page = listed(client, tid, order="asc", before=created[10], limit=3)
    got = ids(page.data)
    assert len(got) == 3 and page.has_more is True
    start = created.index(got[0])
    assert got == created[start:start + 3] and start + 3 <= 10


def test_empty_list_envelope(raw, client):
    t = client.beta.threads.create()
    body = list_envelope(raw.get(f"/threads/{t.id}/messages"))
    assert body["data"] == [] and body["has_more"] is False
    assert body["first_id"] is None and body["last_id"] is None


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_out_of_range(client, filled, limit):
    assert_param(bad_request(listed, client, filled[0], limit=limit), "limit")


def test_limit_bounds_ok(client, filled):
    tid, created = filled
    assert len(listed(client, tid, limit=1).data) == 1
    assert len(listed(client, tid, limit=100).data) == N


def test_bad_order(client, filled):
    assert_param(bad_request(listed, client, filled[0], order="sideways"), "order")


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_unknown_cursor(client, filled, cursor):
    assert_param(bad_request(listed, client, filled[0], **{cursor: "msg_doesnotexist"}), cursor)


def test_non_integer_limit_is_400(raw, filled):
    err = envelope(raw.get(f"/threads/{filled[0]}/messages", params={"limit": "many"}), 400)
    assert err["param"] == "limit"


def test_assistants_list_limits(client):
    assert_param(bad_request(client.beta.assistants.list, limit=101), "limit")
    assert_param(bad_request(client.beta.assistants.list, limit=0), "limit")
    assert_param(bad_request(client.beta.assistants.list, order="up"), "order")
    assert_param(bad_request(client.beta.assistants.list, after="asst_doesnotexist"), "after")


def test_files_list_limits(client):
    client.files.list(limit=10000)
    client.files.list(limit=101)
    assert_param(bad_request(client.files.list, limit=10001), "limit")
    assert_param(bad_request(client.files.list, limit=0), "limit")
    assert_param(bad_request(client.files.list, order="up"), "order")


def test_assistants_default_limit_is_20(client):
    made = [client.beta.assistants.create(model="gpt-4o", name=f"page-{i}").id for i in range(21)]
    page = client.beta.assistants.list()
    assert ids(page.data) == made[::-1][:20]
    assert page.has_more is True


def test_files_default_limit_is_10000(client):
    made = [client.files.create(file=("p.txt", b"%d" % i, "text/plain"), purpose="assistants").id
            for i in range(21)]
    page = client.files.list(order="asc", after=made[0])
    assert ids(page.data) == made[1:]
    assert page.has_more is False


@pytest.mark.parametrize("path", ["/assistants", "/files"])
def test_list_envelopes(raw, client, path):
    client.beta.assistants.create(model="gpt-4o")
    client.files.create(file=("e.txt", b"e", "text/plain"), purpose="assistants")
    body = list_envelope(raw.get(path, params={"limit": 1}))
    assert len(body["data"]) == 1 and body["has_more"] is True
