"""What the browser tests share with the screenshot script: Debian's Chromium, the flags it needs
on a machine without network, and a tab that records every request it makes."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("AIRLOCK_CHROMIUM", "/usr/bin/chromium")
# What Chromium needs on a machine without network: no background connections, no first-run work.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
]
# Never let Playwright fetch a browser of its own.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

class Requests(list):
    """Every URL the page asked for, in order."""

    def foreign(self, root_url: str) -> list[str]:
        host = urlsplit(root_url).netloc
        return [u for u in self if urlsplit(u).scheme not in ("blob", "data")
                and urlsplit(u).netloc != host]


def open_page(browser, root_url: str, viewport=(1366, 860)):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  accept_downloads=True)
    page = context.new_page()
    seen = Requests()
    page.on("request", lambda r: seen.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    page.set_default_timeout(30_000)
    return page, seen
