"""The Playground at /playground and the interactive API docs at /docs, both from packaged files.

Every asset ships in the `airlock.playground` package (the page) or in `swagger_ui_bundle`
(Swagger UI's dist files): the browser never loads anything from another host, and a
Content-Security-Policy header holds the page to that. The page and its assets carry no data, so
the API-key guard lets them through; every API call the page makes sends the key.
"""

from __future__ import annotations

import mimetypes
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

router = APIRouter(include_in_schema=False)

_PAGE = resources.files("airlock.playground")
# Swagger UI's files the docs page needs (the rest of the dist, source maps and the ES builds,
# is never served).
_SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")

# The page talks to this server alone: scripts, styles, fetches and images come from 'self'
# (images of Files arrive as blob: URLs made from authenticated fetches).
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            "connect-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'")
# Swagger UI sets inline styles and inlines its icons as data: URIs.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'")
_HEADERS = {"cache-control": "no-cache", "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer"}


@cache
def _asset(name: str) -> tuple[bytes, str] | None:
    """A packaged file under static/ by its plain name (no directories), or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    entry = _PAGE / "static" / name
    if not entry.is_file():
        return None
    return entry.read_bytes(), _media_type(name)


@cache
def _swagger_asset(name: str) -> tuple[bytes, str] | None:
    if name not in _SWAGGER_FILES:
        return None
    from swagger_ui_bundle import swagger_ui_path  # Swagger UI's dist, shipped on PyPI

    return (Path(str(swagger_ui_path)) / name).read_bytes(), _media_type(name)


def _media_type(name: str) -> str:
    if name.endswith((".js", ".mjs")):
        return "text/javascript; charset=utf-8"
    if name.endswith(".css"):
        return "text/css; charset=utf-8"
    if name.endswith(".svg"):
        return "image/svg+xml"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _file(found: tuple[bytes, str] | None, csp: str | None = None) -> Response:
    if found is None:
        raise HTTPException(404)
    body, media_type = found
    headers = dict(_HEADERS)
    if csp:
        headers["content-security-policy"] = csp
    return Response(body, media_type=media_type, headers=headers)


@router.api_route("/playground", methods=["GET", "HEAD"])
def playground() -> Response:
    return _file(((_PAGE / "index.html").read_bytes(), "text/html; charset=utf-8"), PAGE_CSP)


@router.get("/playground/")
def playground_slash() -> Response:
    return RedirectResponse("/playground", status_code=308)


@router.api_route("/playground/static/{name}", methods=["GET", "HEAD"])
def playground_asset(name: str) -> Response:
    return _file(_asset(name))


@router.api_route("/docs", methods=["GET", "HEAD"])
def docs() -> Response:
    return _file((_DOCS_HTML.encode(), "text/html; charset=utf-8"), DOCS_CSP)


@router.api_route("/docs/assets/{name}", methods=["GET", "HEAD"])
def docs_asset(name: str) -> Response:
    return _file(_swagger_asset(name))


_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>airlock API docs</title>
  <link rel="icon" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="stylesheet" href="/playground/static/docs.css">
</head>
<body>
  <header class="docs-bar">
    <strong>airlock</strong> API docs
    <a href="/playground">Playground</a>
    <span id="docs-key-note"></span>
  </header>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/playground/static/docs.js"></script>
</body>
</html>
"""
