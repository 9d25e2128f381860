"""ASGI middleware in front of every route: the API key and the request-body size limits."""

from __future__ import annotations

import hmac
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airlock.server.errors import envelope
from airlock.settings import Settings

# Paths that hold no data answer without the key: the health check, the API description, and
# the Playground and docs pages with their assets (the page then sends the key on every API
# call). Exactly these routes (server/playground.py); anything else under them needs the key.
_OPEN_PATHS = frozenset({"/health", "/openapi.json", "/playground", "/playground/", "/docs"})
_OPEN_ASSETS = re.compile(r"/(?:playground/static|docs/assets)/[^/]+")
# Room for multipart boundaries and form fields around the file itself.
_MULTIPART_SLACK = 1024 * 1024


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.api_key = settings.api_key
        self.max_json = settings.max_json_body_bytes
        self.max_upload = settings.max_upload_bytes + _MULTIPART_SLACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.api_key and not _open(scope["path"]) and not self._authorized(headers):
            await envelope(
                401,
                "Incorrect API key provided. You can find the key in the --api-key option "
                "or AIRLOCK_API_KEY of this airlock server.",
                code="invalid_api_key",
            )(scope, receive, send)
            return
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.max_upload if multipart else self.max_json
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        await self._limited(scope, receive, send, limit)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        assert self.api_key is not None
        value = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = value.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        )

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Counts streamed body bytes (chunked bodies declare no length) and cuts off at `limit`."""
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _too_large(limit)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise


def _open(path: str) -> bool:
    return path in _OPEN_PATHS or _OPEN_ASSETS.fullmatch(path) is not None


def _too_large(limit: int):
    return envelope(
        413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large"
    )
