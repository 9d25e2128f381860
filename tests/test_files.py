from __future__ import annotations

import pytest

from helpers import (
    assert_not_found,
    assert_param,
    assert_param_startswith,
    assert_recent,
    bad_request,
    dump,
    envelope,
    ids,
    upload,
)

BIG = bytes(range(256)) * (3 * 1024 * 1024 // 256)  # 3 MiB, every byte value, CR/LF included


def test_upload_text_file(client):
    f = upload(client, b"hello", name="notes.txt")
    assert f.id.startswith("file-")
    assert f.object == "file"
    assert (f.bytes, f.filename, f.purpose, f.status) == (5, "notes.txt", "assistants", "processed")
    assert_recent(f.created_at)
    assert f.expires_at is None
    assert dump(client.files.retrieve(f.id)) == dump(f)


def test_content_and_content_type(client, raw):
    f = upload(client, b"hello", name="notes.txt")
    assert client.files.content(f.id).content == b"hello"
    r = raw.get(f"/files/{f.id}/content")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    assert r.content == b"hello"


def test_big_binary_round_trip(client):
    f = upload(client, BIG, name="blob.bin", mime="application/octet-stream")
    assert f.bytes == len(BIG)
    assert client.files.content(f.id).content == BIG


def test_expires_after(client):
    f = upload(client, expires_after={"anchor": "created_at", "seconds": 3600})
    assert f.expires_at == f.created_at + 3600
    g = upload(client, expires_after={"anchor": "created_at", "seconds": 2592000})
    assert g.expires_at == g.created_at + 2592000
    assert client.files.retrieve(f.id).expires_at == f.expires_at


@pytest.mark.parametrize("seconds", [3599, 2592001])
def test_expires_after_out_of_range(client, seconds):
    body = bad_request(upload, client, expires_after={"anchor": "created_at", "seconds": seconds})
    assert_param_startswith(body, "expires_after")


def test_invalid_purpose(client):
    assert_param(bad_request(upload, client, purpose="nonsense"), "purpose")


def test_missing_file_part(raw):
    # A multipart body carrying only the purpose field.
    err = envelope(raw.post("/files", files={"purpose": (None, "assistants")}), 400)
    assert err["param"] == "file"


def test_non_multipart_upload_is_400(raw):
    envelope(raw.post("/files", json={"purpose": "assistants"}), 400)


def test_list_filters_by_purpose(client):
    u = upload(client, purpose="user_data")
    a = upload(client, purpose="assistants")
    user_data = client.files.list(purpose="user_data").data
    assert u.id in ids(user_data) and a.id not in ids(user_data)
    assert {f.purpose for f in user_data} == {"user_data"}
    assistants = client.files.list(purpose="assistants").data
    assert a.id in ids(assistants) and u.id not in ids(assistants)


def test_list_order_and_after(client):
    made = [upload(client, b"%d" % i) for i in range(3)]
    assert ids(client.files.list(limit=3).data) == ids(made)[::-1]
    assert ids(client.files.list(order="asc", after=made[0].id).data) == ids(made[1:])
    assert [f.id for f in client.files.list(order="asc", after=made[0].id, limit=1)] == ids(made[1:])


def test_delete(client):
    f = upload(client)
    d = client.files.delete(f.id)
    assert (d.id, d.object, d.deleted) == (f.id, "file", True)
    assert_not_found("file", f.id, client.files.retrieve, f.id)
    assert_not_found("file", f.id, client.files.content, f.id)
    assert_not_found("file", f.id, client.files.delete, f.id)
    assert f.id not in ids(client.files.list().data)


def test_unknown_file_is_404(client):
    assert_not_found("file", "file-nope", client.files.retrieve, "file-nope")
    assert_not_found("file", "file-nope", client.files.content, "file-nope")
