"""The OpenAPI document, telling the truth about errors: airlock never answers 422 (every
validation error is a 400 in the OpenAI envelope), and any route may answer 400, 401 (with
--api-key), 404 or 413."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from airlock.server.versions import V1_PREFIX

ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"],
                             "properties": {"message": {"type": "string"},
                                            "type": {"type": "string"},
                                            "param": {"type": ["string", "null"]},
                                            "code": {"type": ["string", "null"]}}}},
}
_ERRORS = {
    "400": "Invalid request: a parameter (named in `param`) is missing, malformed or not "
           "allowed now",
    "401": "Missing or wrong API key (when the server runs with --api-key)",
    "404": "Unknown object id, or unknown route",
    "413": "Request body over the size limit",
}


def truthful(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components["Error"] = ERROR
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        _add_v1_only(app, schema)
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status, description in _ERRORS.items():
                    responses.setdefault(status, {"description": description, "content": ref})
        app.openapi_schema = schema
        return schema

    return openapi


def _add_v1_only(app: FastAPI, schema: dict[str, Any]) -> None:
    """Routes only Assistants v1 has (an assistant's files, a message's files): requests with
    `OpenAI-Beta: assistants=v1` reach them (server/versions.py), so they are listed too, under
    their public path. v1 routes that v2 also has are described by v2's entry."""
    paths = schema.setdefault("paths", {})
    v2 = set(paths)
    for route in _api_routes(app.routes):
        path = route.path
        if not path.startswith(V1_PREFIX):
            continue
        public = path.removeprefix(V1_PREFIX)
        if public in v2:
            continue
        item = paths.setdefault(public, {})
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", public)]
        for method in sorted(route.methods or ()):
            item[method.lower()] = {
                "tags": ["Assistants v1"], "summary": route.name.replace("_", " ").capitalize(),
                "description": "Assistants v1 only: send the header `OpenAI-Beta: assistants=v1`.",
                "parameters": params,
                "responses": {"200": {"description": "The object, list or deletion status, in "
                                                     "the v1 shapes (docs/wire/v1.md)"}}}


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, through included routers (FastAPI keeps those as wrappers)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            out += _api_routes(list(inner.routes))
    return out
