"""Which threads a test's clients touched, seen from their HTTP traffic.

The Assistants API cannot list threads, so the fixture learns them here to clean them up:
threads this client created (from the create responses) and threads it used (from the URLs).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

_IN_PATH = re.compile(r"/threads/(thread_[A-Za-z0-9]+)")
# POST /v1/threads creates a thread; POST /v1/threads/runs creates one and runs it.
_CREATES = re.compile(r"/threads(/runs)?/?$")


class ThreadTracker:
    def __init__(self) -> None:
        self.created: set[str] = set()
        self.used: set[str] = set()

    def event_hooks(self) -> dict[str, list[Any]]:
        return {"request": [self._on_request], "response": [self._on_response]}

    def async_event_hooks(self) -> dict[str, list[Any]]:
        return {"request": [self._on_request_async], "response": [self._on_response_async]}

    def _on_request(self, request: httpx.Request) -> None:
        if m := _IN_PATH.search(request.url.path):
            self.used.add(m.group(1))

    def _on_response(self, response: httpx.Response) -> None:
        if _is_creation(response):
            response.read()
            self._created(response)

    async def _on_request_async(self, request: httpx.Request) -> None:
        self._on_request(request)

    async def _on_response_async(self, response: httpx.Response) -> None:
        if _is_creation(response):
            await response.aread()
            self._created(response)

    def _created(self, response: httpx.Response) -> None:
        try:
            body = json.loads(response.content)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        thread_id = body.get("id") if body.get("object") == "thread" else body.get("thread_id")
        if isinstance(thread_id, str):
            self.created.add(thread_id)
            self.used.add(thread_id)


def _is_creation(response: httpx.Response) -> bool:
    # A streamed create_and_run is left alone: reading it here would consume the stream. Its
    # thread is still seen (as used) when the app reads its messages or runs.
    return (response.request.method == "POST" and response.status_code == 200
            and bool(_CREATES.search(response.request.url.path))
            and response.headers.get("content-type", "").startswith("application/json"))
