"""One log line per request: method, path, status and time; never headers, bodies or query
strings (no secrets). Refused requests (4xx) also log their error message at debug level, so a
client's 400 leaves a trace on the server. `--log-level warning` quiets it."""

from __future__ import annotations

import logging
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airlock.server.versions import ORIGINAL_PATH

log = logging.getLogger("airlock.access")


class AccessLog:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        error = b""

        async def logging_send(message: Message) -> None:
            nonlocal status, error
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and 400 <= status < 500 \
                    and len(error) < 2048:
                error += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        finally:
            path = scope.get(ORIGINAL_PATH, scope["path"])
            log.info('%s %s %d %.1f ms', scope["method"], path, status or 500,
                     (time.perf_counter() - started) * 1000)
            if error and log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s refused: %s", scope["method"], path, _message(error))


def _message(body: bytes) -> str:
    try:
        return str(orjson.loads(body)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return body[:300].decode("utf-8", errors="replace")
