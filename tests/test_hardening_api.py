"""Odd inputs and failures at the HTTP edge: null for optional lists, bad schemas, empty and
unparseable requests, an honest OpenAPI document, an access log, and no orphans after a crash."""

from __future__ import annotations

import socket

import httpx
import pytest

from helpers import envelope


@pytest.fixture(scope="module")
def api(fs_server):
    with httpx.Client(base_url=fs_server.base_url, timeout=60) as c:
        yield c


def test_null_means_absent_for_optional_lists(api, fs_client):
    file = fs_client.files.create(file=("n.txt", b"notes", "text/plain"), purpose="assistants")
    r = api.post("/threads", json={"messages": None, "metadata": None})
    assert r.status_code == 200, r.text
    r = api.post("/assistants", json={"model": "scripted", "tools": None, "tool_resources": {
        "code_interpreter": {"file_ids": None}, "file_search": {"vector_store_ids": None}}})
    assert r.status_code == 200, r.text
    assert r.json()["tools"] == []
    thread = api.post("/threads", json={"messages": [{"role": "user", "content": "hi",
                                                       "attachments": [{"file_id": file.id,
                                                                        "tools": None}]}]})
    assert thread.status_code == 200, thread.text
    assert api.post("/vector_stores", json={"file_ids": None}).status_code == 200


def test_a_function_schema_must_be_a_json_schema(api):
    err = envelope(api.post("/assistants", json={"model": "scripted", "tools": [{
        "type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}]}), 400)
    assert err["param"] == "tools[0].function.parameters"
    assert "not a valid JSON Schema" in err["message"]


@pytest.mark.parametrize("path, body, param", [
    ("/assistants", {"model": "scripted", "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {
            "n": {"type": "integer", "maximum": 2**70}}}}}]}, "tools[0].function.parameters"),
    ("/assistants", {"model": "scripted", "response_format": {"type": "json_schema",
                                                            "json_schema": {"name": "s",
                                                                            "schema": {"enum": [-(2**64)]}}}},
     "response_format"),
])
def test_an_integer_outside_64_bits_in_free_json_is_a_400_naming_it(api, path, body, param):
    err = envelope(api.post(path, json=body), 400)
    assert err["param"].startswith(param), err
    assert "outside the 64-bit range" in err["message"]


@pytest.mark.parametrize("strict", [0, 1, "true", None])
def test_bodies_take_only_the_documented_types(api, strict):
    body = {"model": "scripted", "response_format": {"type": "json_schema", "json_schema": {
        "name": "s", "schema": {"type": "object"}, "strict": strict}}}
    r = api.post("/assistants", json=body)
    if strict is None:  # null is an absent optional field
        assert r.status_code == 200, r.text
    else:
        assert envelope(r, 400)["param"].startswith("response_format")


def test_an_empty_body_says_so(api):
    err = envelope(api.post("/assistants", content=b"",
                            headers={"content-type": "application/json"}), 400)
    assert err["param"] is None and "JSON body" in err["message"]


def test_a_filename_with_nul_is_refused(api):
    # Written by hand: httpx would percent-encode the NUL.
    body = (b"--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
            b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x00b.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n")
    r = api.post("/files", content=body,
                 headers={"content-type": "multipart/form-data; boundary=b"})
    err = envelope(r, 400)
    assert err["param"] == "file" and "NUL" in err["message"]


def test_an_unparseable_request_gets_the_envelope(fs_server):
    with socket.create_connection(("127.0.0.1", fs_server.port), timeout=10) as s:
        s.sendall(b"POST /v1/threads HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert httpx.Response(400, content=body).json()["error"]["type"] == "invalid_request_error"


def test_openapi_tells_the_truth(fs_server):
    doc = httpx.get(f"{fs_server.root_url}/openapi.json").json()
    statuses = {status for item in doc["paths"].values() for op in item.values()
                for status in op["responses"]}
    assert "422" not in statuses and {"400", "401", "404"} <= statuses
    params = {p["name"]: p for p in doc["paths"]["/v1/assistants"]["get"]["parameters"]}
    assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 100)
    upload = doc["paths"]["/v1/files"]["post"]["requestBody"]["content"]
    assert set(upload["multipart/form-data"]["schema"]["required"]) == {"file", "purpose"}
    # /docs groups every operation by API generation and resource, none under "default".
    tags = {path: op.get("tags") for path, item in doc["paths"].items() for op in item.values()}
    assert all(t and len(t) == 1 for t in tags.values()), tags
    assert tags["/v1/responses"] == ["Responses API: responses"]
    assert tags["/v1/threads/runs"] == ["Assistants API: runs"]
    assert tags["/v1/conversations/{conversation_id}/items"] == ["Responses API: conversations"]


def test_every_request_is_logged_and_refusals_say_why(start_server):
    server = start_server("access-log", "--model", "scripted", "--log-level", "debug",
                          "--api-key", "sk-secret")
    headers = {"Authorization": "Bearer sk-secret"}
    httpx.post(f"{server.base_url}/assistants", json={}, headers=headers)
    httpx.get(f"{server.base_url}/assistants?limit=5&after=asst_x", headers=headers)
    httpx.get(f"{server.base_url}/assistants", headers={"Authorization": "Bearer wrong"})
    log = server.wait_for_log("POST /v1/assistants 400",
                              "refused: Missing required parameter: 'model'.",
                              "GET /v1/assistants 401")
    assert "sk-secret" not in log and "after=asst_x" not in log


def test_a_restart_removes_bytes_a_crash_left_behind(start_server):
    server = start_server("orphans", "--model", "scripted")
    client = server.client()
    kept = client.files.create(file=("k.txt", b"keep me", "text/plain"), purpose="assistants")
    server.crash()
    files_dir = server.data_dir / "files"
    (files_dir / "file-orphanAAAAAAAAAAAAAAAAAA").write_bytes(b"no row")
    (files_dir / ".file-halfwrittenAAAAAAAAAAAA.part").write_bytes(b"half")
    server.start()
    assert sorted(p.name for p in files_dir.iterdir()) == sorted(
        p.name for p in files_dir.iterdir() if not p.name.startswith((".", "file-orphan")))
    assert len(list(files_dir.iterdir())) == 1
    assert server.client().files.content(kept.id).read() == b"keep me"
