"""The OpenAI-Beta header picks the Assistants version, on the wire: one store, two shapes,
and each version refuses the other's parameters (tests/v1 drive the v1 SDK itself)."""

from __future__ import annotations

import httpx
import pytest

from helpers import envelope

V1 = {"OpenAI-Beta": "assistants=v1"}
V2 = {"OpenAI-Beta": "assistants=v2"}


@pytest.fixture(scope="module")
def api(fs_server):
    with httpx.Client(base_url=fs_server.base_url, timeout=60) as c:
        yield c


def test_one_assistant_two_shapes(api):
    made = api.post("/assistants", headers=V1, json={
        "model": "scripted", "tools": [{"type": "retrieval"}]}).json()
    assert made["file_ids"] == [] and made["tools"] == [{"type": "retrieval"}]
    assert "tool_resources" not in made and "temperature" not in made
    seen = api.get(f"/assistants/{made['id']}", headers=V2).json()
    assert seen["tools"] == [{"type": "file_search"}] and "file_ids" not in seen
    unversioned = api.get(f"/assistants/{made['id']}").json()
    assert unversioned == seen  # no header: v2


def test_v1_threads_and_messages_show_file_ids(api, fs_client):
    file = fs_client.files.create(file=("n.txt", b"notes", "text/plain"), purpose="assistants")
    thread = api.post("/threads", headers=V1, json={"messages": [
        {"role": "user", "content": "hi", "file_ids": [file.id]}]}).json()
    assert set(thread) == {"id", "object", "created_at", "metadata"}
    [message] = api.get(f"/threads/{thread['id']}/messages", headers=V1).json()["data"]
    assert message["file_ids"] == [file.id] and "attachments" not in message
    [as_v2] = api.get(f"/threads/{thread['id']}/messages", headers=V2).json()["data"]
    assert [a["file_id"] for a in as_v2["attachments"]] == [file.id]
    assert api.get(f"/threads/{thread['id']}", headers=V2).json()["tool_resources"][
        "file_search"]["vector_store_ids"]  # the attachment filled the thread's own store


def test_each_version_refuses_the_others_parameters(api):
    err = envelope(api.post("/assistants", headers=V2, json={
        "model": "scripted", "file_ids": []}), 400)
    assert err["param"] == "file_ids" and err["code"] == "unknown_parameter"
    err = envelope(api.post("/assistants", headers=V2, json={
        "model": "scripted", "tools": [{"type": "retrieval"}]}), 400)
    assert err["param"].startswith("tools[0]")
    err = envelope(api.post("/assistants", headers=V1, json={
        "model": "scripted", "tool_resources": {}}), 400)
    assert err["param"] == "tool_resources"
    thread = api.post("/threads", headers=V1).json()
    err = envelope(api.post(f"/threads/{thread['id']}/messages", headers=V1, json={
        "role": "user", "content": [{"type": "text", "text": "x"}]}), 400)
    assert err["param"] == "content"


def test_v1_only_routes_need_the_v1_header(api, fs_server):
    assistant = api.post("/assistants", headers=V2, json={"model": "scripted"}).json()
    err = envelope(api.get(f"/assistants/{assistant['id']}/files", headers=V2), 404)
    assert err["message"] == f"Invalid URL (GET /v1/assistants/{assistant['id']}/files)"
    assert api.get(f"/assistants/{assistant['id']}/files", headers=V1).json()["data"] == []
    inner = f"/_assistants_v1/v1/assistants/{assistant['id']}"  # where v1 requests are routed
    err = envelope(httpx.get(fs_server.root_url + inner), 404)
    assert err["message"] == f"Invalid URL (GET {inner})"
    err = envelope(api.get("/assistants/x/nope", headers=V1), 404)
    assert err["message"] == "Invalid URL (GET /v1/assistants/x/nope)"


def test_openapi_lists_v2_and_the_routes_only_v1_has(fs_server):
    paths = httpx.get(f"{fs_server.root_url}/openapi.json").json()["paths"]
    assert "/v1/assistants" in paths and not any("_assistants_v1" in p for p in paths)
    # An assistant's and a message's files exist only in v1: listed under their public path,
    # saying which header reaches them.
    for path, methods in [("/v1/assistants/{assistant_id}/files", {"get", "post"}),
                          ("/v1/assistants/{assistant_id}/files/{file_id}", {"get", "delete"}),
                          ("/v1/threads/{thread_id}/messages/{message_id}/files", {"get"}),
                          ("/v1/threads/{thread_id}/messages/{message_id}/files/{file_id}",
                           {"get"})]:
        assert methods <= paths[path].keys(), path
        for method in methods:
            assert "OpenAI-Beta: assistants=v1" in paths[path][method]["description"]
            assert paths[path][method]["tags"] == ["Assistants v1"]
    assert "Assistants v1" not in str(paths["/v1/assistants"])
