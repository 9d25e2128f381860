"""Every failure leaves as the OpenAI error envelope with its status (docs/wire/errors.md)."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from airlock.errors import AirlockError, InvalidRequest
from airlock.server.json_response import WireJSON
from airlock.server.versions import ORIGINAL_PATH

log = logging.getLogger("airlock")

# Pydantic puts union-member labels and discriminator tags into error locations; they are not
# part of the request's shape, so they are dropped when naming the `param`.
_LABEL = re.compile(r"^(str|int|float|bool|none|dict|list)$|\[|^function-")
_TAGS = {
    "function", "code_interpreter", "file_search", "text", "image_file", "image_url",
    "json_object", "json_schema",
}


def envelope(status: int, message: str, *, type: str = "invalid_request_error",
             param: str | None = None, code: str | None = None,
             headers: dict[str, str] | None = None) -> WireJSON:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return WireJSON(body, status_code=status, headers=headers)


def param_of(loc: tuple[Any, ...]) -> str | None:
    parts: list[Any] = []
    tag_may_follow = False  # a discriminator tag sits right after a list index or a union label
    for seg in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        if isinstance(seg, str) and _LABEL.search(seg):
            tag_may_follow = True
            continue
        if tag_may_follow and seg in _TAGS:
            tag_may_follow = False
            continue
        tag_may_follow = isinstance(seg, int)
        parts.append(seg)
    out = ""
    for seg in parts:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out or None


def invalid_part(where: str, exc: ValidationError) -> InvalidRequest:
    """A pydantic error in a part of a body validated by hand (an item, a tool) as a 400 naming
    the param under `where`, labels and tags dropped as for whole bodies."""
    err = exc.errors()[0]
    sub = param_of(tuple(err["loc"]))
    param = where + ("" if sub is None else sub if sub.startswith("[") else f".{sub}")
    return InvalidRequest(f"Invalid '{param}': {err['msg']}.", param=param)


def validation_envelope(exc: RequestValidationError) -> WireJSON:
    errors = exc.errors()
    # A union reports one error per member; the deepest one is where the request went wrong.
    err = max(errors, key=lambda e: len(e.get("loc", ())), default={
        "type": "value_error", "loc": (), "msg": "Invalid request."})
    kind = err["type"]
    param = param_of(tuple(err.get("loc", ())))
    if kind == "json_invalid" or (kind in ("model_attributes_type", "missing") and param is None):
        return envelope(
            400,
            "We could not parse the JSON body of your request. The API expects a JSON object "
            "as the body.",
        )
    if kind == "missing":
        return envelope(400, f"Missing required parameter: '{param}'.", param=param,
                        code="missing_required_parameter")
    if kind == "extra_forbidden":
        return envelope(400, f"Unrecognized request argument supplied: {param}", param=param,
                        code="unknown_parameter")
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    code = "invalid_type" if str(kind).endswith("_type") else "invalid_value"
    return envelope(400, f"Invalid '{param}': {msg}.", param=param, code=code)


def install(app: FastAPI) -> None:
    @app.exception_handler(AirlockError)
    async def on_airlock_error(_: Request, exc: AirlockError) -> WireJSON:
        return envelope(exc.status, exc.message, type=exc.type, param=exc.param, code=exc.code)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> WireJSON:
        return validation_envelope(exc)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> WireJSON:
        if exc.status_code in (404, 405):
            path = request.scope.get(ORIGINAL_PATH, request.url.path)
            return envelope(404, f"Invalid URL ({request.method} {path})")
        return envelope(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> WireJSON:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # No traceback leaves the server; the same request would fail again, so no retry.
        return envelope(500, "The server had an error while processing your request.",
                        type="server_error", headers={"x-should-retry": "false"})
