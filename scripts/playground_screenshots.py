"""Screenshots of the Playground's main views for the README, into docs/playground/*.png.

Starts `airlock serve --model scripted` on a free port with a temporary data dir, makes a few
objects (an assistant with every kind of tool, a vector store, scripted replies), drives the page
in Debian's headless Chromium with Playwright as a person would, and saves the views.

    .venv/bin/python scripts/playground_screenshots.py [--out docs/playground]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("AIRLOCK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

HANDBOOK = """# Employee handbook

Refunds. Customers may return any product within 30 days of delivery for a full refund; the
refund reaches their card within 5 business days. Opened software is refunded as store credit.

Travel. Book trains for trips under 4 hours. Hotel nights are reimbursed up to 140 EUR.
"""
SECURITY = """Security policy. Laptops use full-disk encryption. Passwords are at least 14 characters
and are never reused. Report a lost device to security@example.com within one hour.
"""
CHART = """import csv
months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun']
refunds = [12, 9, 14, 7, 5, 8]
plt.figure(figsize=(6, 3.2))
plt.bar(months, refunds, color='#1f5fbf')
plt.title('Refunds per month')
with open('/mnt/data/refunds.csv', 'w', newline='') as f:
    csv.writer(f).writerows(zip(months, refunds))
plt.show()
print('total refunds:', sum(refunds))"""
WEATHER = {"name": "get_weather", "description": "Current weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "AIRLOCK_CODE_POOL_SIZE": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([sys.executable, "-m", "airlock", "serve", "--port", str(port),
                             "--model", "scripted", "--data-dir", str(data_dir),
                             "--log-level", "warning"], cwd=ROOT, env=env)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{root}/health", timeout=2).status_code == 200:
                return proc, root
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # readiness poll interval
    proc.kill()
    sys.exit("the server did not start")


def script(root: str, *replies: dict) -> None:
    httpx.post(f"{root}/airlock/v1/scripted/replies", json={"replies": list(replies)}).raise_for_status()


def send(page, text: str) -> None:
    page.locator("#composer-input").fill(text)
    page.locator("#composer-input").press("Enter")
    expect(page.locator("#thread-id")).to_be_visible()
    expect(page.locator("article.msg.assistant").last).to_have_attribute(
        "data-status", "completed", timeout=120_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "playground"))
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, root = start_server(Path(tmp) / "data")
        try:
            shoot(root, out, Path(tmp))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    for png in sorted(out.glob("*.png")):
        print(png.relative_to(ROOT))


def shoot(root: str, out: Path, tmp: Path) -> None:
    (tmp / "handbook.md").write_text(HANDBOOK)
    (tmp / "security.txt").write_text(SECURITY)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        page.set_default_timeout(60_000)

        # Assistants: make one with every kind of tool through the editor.
        page.goto(f"{root}/playground#/assistants/new")
        page.locator("#a-name").fill("Policy helper")
        page.locator("#a-instructions").fill(
            "Answer questions about company policy from the handbook. Cite your sources. "
            "Use code for numbers and charts.")
        page.locator("#tool-file-search").check()
        page.locator("#vs-upload").set_input_files([str(tmp / "handbook.md"), str(tmp / "security.txt")])
        expect(page.locator("#vs-counts")).to_contain_text("2 ready", timeout=120_000)
        page.locator("#tool-code-interpreter").check()
        page.locator("#add-function").click()
        page.locator("#function-json").fill(str(WEATHER).replace("'", '"'))
        page.locator("#function-save").click()
        page.locator("#assistant-save").click()
        expect(page.locator("#assistant-id")).to_be_visible()
        page.locator(".toast").first.wait_for(state="detached", timeout=10_000)
        page.screenshot(path=str(out / "assistants.png"))

        # Threads: a cited file_search answer, then a chart from code_interpreter.
        script(root, {"tool_calls": [{"type": "file_search", "file_search": {"query": "refund"}}]},
               {"text": "Customers can return a product **within 30 days** of delivery for a full "
                        "refund 【0:0†handbook.md】. The money reaches their card within 5 business "
                        "days; opened software is refunded as store credit."})
        page.locator("#assistant-chat").click()
        send(page, "What is our refund policy?")
        script(root, {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": CHART}}]},
               {"text": "Here are the refunds per month (55 in all). "
                        "[Download the data](sandbox:/mnt/data/refunds.csv)"})
        send(page, "Chart the refunds per month.")
        page.locator("article.msg.assistant img.msg-image").last.wait_for()
        page.wait_for_function("() => [...document.querySelectorAll('img.msg-image')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        page.locator("details.run").first.locator(".call[data-call-type=code_interpreter]").wait_for()
        page.screenshot(path=str(out / "chat.png"))

        # The run inspector of the cited answer: search results with scores and content.
        runs = page.locator("details.run")
        runs.nth(0).locator("> summary").click()
        runs.nth(1).locator("> summary").click()
        runs.nth(1).locator("details.result-content summary").first.click()
        page.locator("#inspector").evaluate("el => el.scrollTop = 0")
        page.locator("#inspector").screenshot(path=str(out / "inspector.png"))

        # A function call waiting for its output.
        script(root, {"tool_calls": [{"type": "function", "function": {
            "name": "get_weather", "arguments": {"city": "Lisbon"}}}]},
            {"text": "It is 24 °C and sunny in Lisbon."})
        page.locator("#new-thread").click()
        expect(page.locator("#thread-id")).to_be_visible()
        page.locator("#composer-input").fill("Should I pack an umbrella for Lisbon?")
        page.locator("#composer-input").press("Enter")
        form = page.locator("form.tool-outputs")
        expect(form).to_be_visible()
        form.locator("textarea").fill('{"temperature_c": 24, "sky": "sunny"}')
        page.screenshot(path=str(out / "requires-action.png"))
        form.locator("[data-role=submit-outputs]").click()
        expect(page.locator("article.msg.assistant").last).to_have_attribute("data-status", "completed")

        # The scripted model panel with a few replies queued.
        page.goto(f"{root}/playground#/scripted")
        page.locator("#script-text").fill("Hello! I am the scripted model.")
        page.locator("#script-queue").click()
        page.locator("#script-kind").select_option("function")
        page.locator("#script-fn-name").fill("get_weather")
        page.locator("#script-fn-args").fill('{"city": "Oslo"}')
        page.locator("#script-queue").click()
        expect(page.locator(".queue[data-thread=global] [data-role=count]")).to_have_text("2 queued")
        page.locator(".toast").last.wait_for(state="detached", timeout=10_000)
        page.screenshot(path=str(out / "scripted.png"))

        page.goto(f"{root}/docs")
        page.locator(".swagger-ui .opblock").first.wait_for()
        page.screenshot(path=str(out / "docs.png"))
        browser.close()


if __name__ == "__main__":
    main()
