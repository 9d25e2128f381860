from __future__ import annotations

import httpx
import openai
import pytest

from helpers import api_error, envelope


@pytest.fixture(scope="module")
def secured(start_server):
    return start_server("auth", "--api-key", "sekrit")


@pytest.fixture(scope="module")
def good(secured):
    with secured.client("sekrit") as c:
        yield c


@pytest.fixture(scope="module")
def wrong(secured):
    with secured.client("wrong") as c:
        yield c


def test_wrong_key_is_401(wrong):
    for call in (wrong.beta.assistants.list, wrong.files.list, wrong.models.list):
        e = api_error(openai.AuthenticationError, call)
        assert e.status_code == 401


def test_wrong_key_cannot_write(good, wrong):
    before = [a.id for a in good.beta.assistants.list(limit=100)]
    api_error(openai.AuthenticationError, wrong.beta.assistants.create, model="gpt-4o")
    assert [a.id for a in good.beta.assistants.list(limit=100)] == before


def test_right_key_works(good):
    a = good.beta.assistants.create(model="gpt-4o", name="authed")
    assert good.beta.assistants.retrieve(a.id).name == "authed"
    assert good.files.create(file=("a.txt", b"a", "text/plain"), purpose="assistants").bytes == 1


def test_missing_header_is_401_envelope(secured):
    with httpx.Client(base_url=secured.base_url) as h:
        envelope(h.get("/assistants"), 401)
        envelope(h.get("/assistants", headers={"Authorization": "Bearer wrong"}), 401)
        assert h.get("/assistants", headers={"Authorization": "Bearer sekrit"}).status_code == 200


def test_health_needs_no_auth(secured):
    assert httpx.get(f"{secured.root_url}/health", timeout=10).status_code == 200


@pytest.mark.parametrize("path, status", [
    ("/playground", 200), ("/playground/static/app.js", 200), ("/docs", 200),
    ("/openapi.json", 200),
    # Only those routes are open: other paths under them need the key like any other.
    ("/playground/static/app.js/../../v1/assistants", 401), ("/playground/secret", 401),
    ("/docs/assets", 401), ("/docs/other/thing", 401),
])
def test_only_the_page_routes_are_open_without_a_key(secured, path, status):
    r = httpx.get(secured.root_url + path)
    assert r.status_code == status, (path, r.text[:200])
    if status == 401:
        assert r.json()["error"]["code"] == "invalid_api_key"


def _every_operation(secured):
    """(method, path) of every operation the server documents, ids filled with a real-looking
    value: the campaign reaches each route, not just its 404."""
    doc = httpx.get(f"{secured.root_url}/openapi.json", timeout=10).json()
    for path, ops in doc["paths"].items():
        if not path.startswith("/v1/"):
            continue  # /health and the playground are open by design (tested above)
        for method in ops:
            yield method.upper(), "/" + path.lstrip("/").replace("{", "x_").replace("}", "")


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer"},
    {"Authorization": "sekrit"}, {"Authorization": "Basic sekrit"},
    {"Authorization": "Bearer sekrit2"}, {"Authorization": "Bearer SEKRIT"},
    {"api-key": "sekrit"},
], ids=["none", "wrong", "empty", "no-scheme", "basic", "longer", "case", "azure-header"])
def test_every_route_refuses_a_bad_key_with_401(secured, headers):
    """The auth campaign: every documented operation (chat, embeddings and models included),
    with each kind of bad credential, is a 401 envelope before any body is read."""
    operations = list(_every_operation(secured))
    assert {("POST", "/v1/chat/completions"), ("POST", "/v1/embeddings"),
            ("GET", "/v1/models")} <= set(operations)
    with httpx.Client(base_url=secured.root_url, timeout=30) as h:
        for method, path in operations:
            r = h.request(method, path, headers=headers, json={"model": "x", "input": "y"})
            assert envelope(r, 401)["code"] == "invalid_api_key", (method, path)
