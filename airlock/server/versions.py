"""The OpenAI-Beta header picks the version of the Assistants API a request speaks.

`OpenAI-Beta: assistants=v1` (the openai SDK up to 1.20 sends it) routes requests to the
assistants and threads endpoints to the v1 routers in server/v1, mounted under V1_PREFIX;
`assistants=v2` or no header keeps the v2 endpoints. Files, vector stores and models have one
version. The path the client sent stays in the scope (ORIGINAL_PATH) for error messages.
"""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from airlock.errors import AirlockError

V1_PREFIX = "/_assistants_v1"
ORIGINAL_PATH = "airlock.original_path"
_ASSISTANTS_PATHS = ("/v1/assistants", "/v1/threads")


class AssistantsVersion:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_ASSISTANTS_PATHS) and _v1(scope):
            scope = {**scope, "path": V1_PREFIX + scope["path"], ORIGINAL_PATH: scope["path"]}
        await self.app(scope, receive, send)


def _v1(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"openai-beta" and b"assistants=v1" in value.replace(b" ", b""):
            return True
    return False


class InvalidUrl(AirlockError):
    status = 404


async def routed_from_v1_header(request: Request) -> None:
    """The v1 routes answer only requests the header routed to them."""
    if ORIGINAL_PATH not in request.scope:
        raise InvalidUrl(f"Invalid URL ({request.method} {request.url.path})")
