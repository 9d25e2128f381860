"""The Playground in a real headless Chromium: Debian's `chromium` (scripts/install.sh installs it)
driven by Playwright for Python, pointed at that executable; Playwright's own browser download is
never used. Each test gets a fresh browser context (empty localStorage and sessionStorage), and
every request the page makes is recorded: none may leave the airlock server's host."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playground_browser import CHROMIUM, CHROMIUM_ARGS, open_page

try:
    from playwright.sync_api import Browser, Page, Playwright, sync_playwright
except ImportError:  # pragma: no cover - the [test] extras install it
    sync_playwright = None  # type: ignore[assignment]

def _missing() -> str | None:
    if sync_playwright is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} not found (apt-get install chromium; scripts/install.sh --test does it)"
    return None


# Module scope: Playwright's sync API keeps an event loop running in the main thread while it
# is open, and later tests of the session (asyncio.run in an app's test) must not find one.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    why = _missing()
    if why:
        # The browser tests must run wherever the suite runs: a missing browser is a failure,
        # never a skip (a skip would let CI go green without the Playground tested).
        pytest.fail(f"the Playground's browser tests cannot run: {why}", pytrace=False)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture(scope="session")
def pg_server(start_server):
    """A scripted-model server with a pre-warmed code kernel (the code tests use it)."""
    return start_server("playground", "--model", "scripted", env={"AIRLOCK_CODE_POOL_SIZE": "1"})


@pytest.fixture(scope="session")
def pg_client(pg_server):
    c = pg_server.client()
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _empty_script_queues(request):
    if "pg_server" in request.fixturenames:
        server = request.getfixturevalue("pg_server")
        assert httpx.delete(f"{server.root_url}/airlock/v1/scripted/replies").status_code == 200


@pytest.fixture()
def page(browser, pg_server) -> Iterator[Page]:
    """A fresh tab on the scripted server; afterwards: no request left for another host and no
    uncaught script error."""
    p, seen = open_page(browser, pg_server.root_url)
    p.requests = seen  # type: ignore[attr-defined]
    yield p
    errors = list(p.errors)  # type: ignore[attr-defined]
    p.context.close()
    assert seen.foreign(pg_server.root_url) == [], "the page reached another host"
    assert errors == [], f"uncaught errors in the page: {errors}"
