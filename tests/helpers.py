"""Shared assertions and builders for the airlock tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

ERROR_KEYS = {"message", "type", "param", "code"}
LIST_KEYS = {"object", "data", "first_id", "last_id", "has_more"}


def api_error(exc_type: type[openai.APIStatusError], fn: Callable[..., Any], *args: Any, **kwargs: Any):
    """Call fn, expect exc_type, check the inner error dict has all four keys, return the exception."""
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    e = info.value
    assert isinstance(e.body, dict), f"error body is not an object: {e.body!r}"
    assert set(e.body) >= ERROR_KEYS, f"error body misses keys: {e.body!r}"
    return e


def bad_request(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict:
    e = api_error(openai.BadRequestError, fn, *args, **kwargs)
    assert e.status_code == 400
    assert e.body["type"] == "invalid_request_error", e.body
    return e.body


def not_found(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict:
    e = api_error(openai.NotFoundError, fn, *args, **kwargs)
    assert e.status_code == 404
    return e.body


def assert_not_found(kind: str, obj_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    body = not_found(fn, *args, **kwargs)
    assert body["message"] == f"No {kind} found with id '{obj_id}'.", body


def assert_param(body: dict, param: str) -> None:
    assert body["param"] == param, body


def assert_param_startswith(body: dict, prefix: str) -> None:
    assert isinstance(body["param"], str) and body["param"].startswith(prefix), body


def envelope(resp: httpx.Response, status: int) -> dict:
    """Check a raw response is `status` with the OpenAI error envelope; return the inner error."""
    assert resp.status_code == status, (resp.status_code, resp.text[:2000])
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) >= ERROR_KEYS, err
    assert isinstance(err["message"], str) and err["message"], err
    return err


def list_envelope(resp: httpx.Response) -> dict:
    assert resp.status_code == 200, (resp.status_code, resp.text[:2000])
    body = resp.json()
    assert set(body) >= LIST_KEYS, body
    assert body["object"] == "list"
    data = body["data"]
    assert body["first_id"] == (data[0]["id"] if data else None), body
    assert body["last_id"] == (data[-1]["id"] if data else None), body
    assert isinstance(body["has_more"], bool)
    return body


def assert_recent(ts: Any) -> None:
    assert isinstance(ts, int) and not isinstance(ts, bool), ts
    assert abs(time.time() - ts) < 600, ts


def ids(items) -> list[str]:
    return [x.id for x in items]


def dump(obj) -> dict:
    return obj.model_dump(mode="json")


def upload(client: openai.OpenAI, content: bytes = b"hello", name: str = "notes.txt",
           mime: str = "text/plain", purpose: str = "assistants", **kwargs):
    return client.files.create(file=(name, content, mime), purpose=purpose, **kwargs)


def text_part(value: str) -> dict:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def content_dump(message) -> list[dict]:
    """Message content as plain dicts, without keys the server left unset."""
    return [part.model_dump(mode="json", exclude_none=True) for part in message.content]
