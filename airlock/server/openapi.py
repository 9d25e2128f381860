"""The OpenAPI document, telling the truth about errors: airlock never answers 422 (every
validation error is a 400 in the OpenAI envelope), and any route may answer 400, 401 (with
--api-key), 404 or 413."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status, description in _ERRORS.items():
                    responses.setdefault(status, {"description": description, "content": ref})
        app.openapi_schema = schema
        return schema

    return openapi
