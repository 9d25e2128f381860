"""The error envelope, validation as 400 (never 422), and that failed requests change nothing."""

from __future__ import annotations

import json

import httpx
import pytest

from helpers import assert_param, bad_request, dump, envelope

OVERSIZE = 20 * 1024 * 1024


def test_not_found_envelope(raw):
    err = envelope(raw.get("/assistants/asst_missing"), 404)
    assert err["message"] == "No assistant found with id 'asst_missing'."
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", None, None)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_route(raw, method):
    envelope(raw.request(method, "/nope"), 404)


def test_malformed_json(raw):
    r = raw.post("/assistants", content=b"{not json", headers={"content-type": "application/json"})
    err = envelope(r, 400)
    assert err["type"] == "invalid_request_error"


def test_body_must_be_object(raw):
    envelope(raw.post("/assistants", json=["model", "gpt-4o"]), 400)


def test_wrong_type_names_field(raw):
    err = envelope(raw.post("/assistants", json={"model": "gpt-4o", "name": 123}), 400)
    assert err["param"] == "name"
    assert err["type"] == "invalid_request_error"


def test_missing_required_field(raw):
    err = envelope(raw.post("/assistants", json={}), 400)
    assert err["param"] == "model"


def test_unknown_field_is_named(raw):
    err = envelope(raw.post("/assistants", json={"model": "gpt-4o", "bogus_field": 1}), 400)
    assert "bogus_field" in (err["param"] or "") or "bogus_field" in err["message"], err


def test_nested_wrong_type_names_path(raw):
    t = raw.post("/threads", json={}).json()
    err = envelope(raw.post(f"/threads/{t['id']}/messages", json={"role": "user", "content": 5}), 400)
    assert err["param"] == "content"


def test_failed_update_changes_nothing(client):
    a = client.beta.assistants.create(model="gpt-4o", name="stable", metadata={"keep": "me"})
    assert_param(bad_request(client.beta.assistants.update, a.id, name="changed",
                             metadata={f"k{i}": "v" for i in range(17)}), "metadata")
    assert_param(bad_request(client.beta.assistants.update, a.id, name="changed",
                             tools=[{"type": "function", "function": {"name": "bad name"}}]),
                 "tools[0].function.name")
    assert dump(client.beta.assistants.retrieve(a.id)) == dump(a)


def test_failed_message_create_adds_nothing(client):
    t = client.beta.threads.create(messages=[{"role": "user", "content": "one"}])
    bad_request(client.beta.threads.messages.create, t.id, role="user", content="two",
                metadata={"k": "v" * 513})
    assert [m.content[0].text.value for m in client.beta.threads.messages.list(t.id)] == ["one"]


def test_oversize_body_is_413_and_server_survives(server, raw, client):
    body = json.dumps({"model": "gpt-4o", "instructions": "x" * OVERSIZE}).encode()
    r = raw.post("/assistants", content=body, headers={"content-type": "application/json"})
    envelope(r, 413)
    assert httpx.get(f"{server.root_url}/health", timeout=10).status_code == 200
    assert client.beta.assistants.create(model="gpt-4o", name="after-413").name == "after-413"
