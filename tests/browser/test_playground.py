"""The Playground at /playground, used as a person would: in headless Chromium, on a scripted-model
server. Every test also checks (in the `page` fixture) that no request left for another host and
that no script error went uncaught."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest
from playground_browser import open_page
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ZORBLAX = ("Company history. The Zorblax engine was invented by Mira Tell in 1987 in the town of "
           "Velmora. It runs on compressed kelp and needs the kelp valve replaced every winter.")
CHART = """import csv
xs = [1, 2, 3, 4]
plt.plot(xs, [x * x for x in xs])
plt.title('squares')
with open('/mnt/data/squares.csv', 'w', newline='') as f:
    csv.writer(f).writerows([(x, x * x) for x in xs])
plt.show()
print('rows:', len(xs))"""
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def script(server, *replies: dict, thread_id: str | None = None) -> None:
    body = {"replies": list(replies), **({"thread_id": thread_id} if thread_id else {})}
    r = httpx.post(f"{server.root_url}/airlock/v1/scripted/replies", json=body)
    assert r.status_code == 200, r.text


def chat(page, server, assistant_id: str, text: str) -> None:
    """Opens a new chat with the assistant, types `text` and presses Enter."""
    page.goto(f"{server.root_url}/playground#/threads?assistant={assistant_id}")
    expect(page.locator("#chat-assistant")).to_have_value(assistant_id)
    page.locator("#composer-input").fill(text)
    page.locator("#composer-input").press("Enter")
    # Sending made a thread, remembered by the page, and opened it.
    expect(page.locator("#thread-id")).to_have_text(re.compile(r"^thread_"))


def last_reply(page):
    return page.locator("article.msg.assistant").last


def test_create_assistant_with_a_function_and_code_interpreter(page, pg_server, pg_client):
    page.goto(f"{pg_server.root_url}/playground#/assistants/new")
    expect(page.locator("#a-model")).to_have_value("scripted")  # the default model, first
    page.locator("#a-name").fill("Weather helper")
    page.locator("#a-instructions").fill("Answer with the weather.")
    page.locator("#tool-code-interpreter").check()
    expect(page.locator("#code-panel")).to_be_visible()

    page.locator("#add-function").click()
    editor = page.locator("#function-json")
    editor.fill('{"name": "get weather"}')  # the JSON editor validates as you type
    expect(page.locator("#function-error")).to_contain_text('"name" must be 1–64 letters')
    expect(page.locator("#function-save")).to_be_disabled()
    editor.fill("{not json")
    expect(page.locator("#function-error")).to_contain_text("Not valid JSON")
    page.locator("#function-example").click()
    expect(page.locator("#function-error")).to_have_text("Valid function.")
    page.locator("#function-save").click()
    expect(page.locator("#function-list li[data-name=get_weather]")).to_be_visible()

    page.locator("#assistant-save").click()
    expect(page.locator(".toast.info")).to_contain_text("Assistant created.")
    expect(page.locator("#assistant-id")).to_have_text(re.compile(r"^asst_"))
    assistant_id = page.locator("#assistant-id").inner_text()
    expect(page.locator(f'#assistant-list a[data-id="{assistant_id}"]')).to_contain_text("Weather helper")

    saved = pg_client.beta.assistants.retrieve(assistant_id)
    assert saved.name == "Weather helper" and saved.model == "scripted"
    assert saved.instructions == "Answer with the weather."
    assert [t.type for t in saved.tools] == ["code_interpreter", "function"]
    assert saved.tools[1].function.name == "get_weather"
    assert saved.tools[1].function.parameters["required"] == ["city"]
    # Sampling the user never touched is not sent: the run keeps the model's defaults.
    assert saved.temperature == 1.0 and saved.top_p == 1.0

    # Editing keeps the tools and changes what was edited.
    page.locator("#a-name").fill("Weather helper 2")
    page.locator("#assistant-save").click()
    expect(page.locator(".editor-head h2")).to_have_text("Weather helper 2")
    assert [t.type for t in pg_client.beta.assistants.retrieve(assistant_id).tools] == [
        "code_interpreter", "function"]

    page.on("dialog", lambda d: d.accept())
    page.locator("#assistant-delete").click()
    expect(page.locator(f'#assistant-list a[data-id="{assistant_id}"]')).to_have_count(0)


def test_chat_streams_the_scripted_reply_token_by_token(page, pg_server, pg_client):
    assistant = pg_client.beta.assistants.create(model="scripted", name="Echo")
    # Queue the reply through the Scripted model panel.
    page.goto(f"{pg_server.root_url}/playground#/scripted")
    page.locator("#script-text").fill("Hello **world**, this reply streams one word at a time.")
    page.locator("#script-delay").fill("40")
    page.locator("#script-queue").click()
    expect(page.locator('.queue[data-thread=global] [data-role=count]')).to_have_text("1 queued")

    chat(page, pg_server, assistant.id, "Hi there")
    expect(page.locator("article.msg.user").first).to_contain_text("Hi there")
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", "completed")
    expect(reply.locator(".md")).to_have_text("Hello world, this reply streams one word at a time.")
    expect(reply.locator(".md strong")).to_have_text("world")
    # It arrived as many deltas, rendered as they came.
    assert int(reply.get_attribute("data-deltas")) > 5

    run = page.locator("details.run").first
    expect(run.locator("[data-role=run-status]")).to_have_text("completed")
    expect(run.locator("[data-role=usage]")).to_contain_text(
        re.compile(r"\d+ prompt · \d+ completion · \d+ cached · \d+ total"))
    expect(run.locator("dl.kv")).to_contain_text(re.compile(r"Timings\s*queued \d+ s · ran \d+ s · total"))
    expect(run.locator("[data-role=stream-stats]")).to_contain_text("text deltas")
    expect(run.locator(".step[data-step-type=message_creation]")).to_have_count(1)
    expect(run).to_contain_text("scripted")

    # The thread is remembered by this page (the API cannot list threads), the queue is spent.
    thread_id = page.locator("#thread-id").inner_text()
    expect(page.locator(f'#thread-list a[data-id="{thread_id}"]')).to_contain_text("Hi there")
    page.locator("#composer-input").fill("line one")
    page.locator("#composer-input").press("Shift+Enter")  # a new line, not a send
    page.locator("#composer-input").type("line two")
    expect(page.locator("#composer-input")).to_have_value("line one\nline two")
    page.locator("#composer-input").press("Enter")
    expect(last_reply(page).locator(".md")).to_have_text("You said: line one\nline two", use_inner_text=True)
    messages = pg_client.beta.threads.messages.list(thread_id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]


def test_model_output_cannot_inject_html(page, pg_server, pg_client):
    assistant = pg_client.beta.assistants.create(model="scripted")
    script(pg_server, {"text": ('<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> '
                                '[click](javascript:window.pwned=3) `<b>code</b>` and a '
                                '[real link](https://example.org/docs)')})
    chat(page, pg_server, assistant.id, "Say something nasty")
    md = last_reply(page).locator(".md")
    expect(md).to_contain_text('<img src=x onerror="window.pwned=1">')
    expect(md.locator("img, script")).to_have_count(0)
    expect(md.locator("a[href^=javascript]")).to_have_count(0)
    expect(md.locator("code")).to_have_text("<b>code</b>")
    expect(md.locator('a[href="https://example.org/docs"]')).to_have_attribute("rel", re.compile("noopener"))
    assert page.evaluate("window.pwned") is None


def test_code_run_shows_its_image_inline_and_downloads_sandbox_files(page, pg_server, pg_client):
    assistant = pg_client.beta.assistants.create(model="scripted", name="Coder",
                                                 tools=[{"type": "code_interpreter"}])
    script(pg_server,
           {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": CHART}}]},
           {"text": "Here is the chart. [Download the data](sandbox:/mnt/data/squares.csv)"})
    chat(page, pg_server, assistant.id, "Plot the squares")
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", "completed", timeout=90_000)
    image = reply.locator("img.msg-image")
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle())

    # The inspector shows the code, its logs and its image.
    step = page.locator("details.run").first.locator(".call[data-call-type=code_interpreter]")
    expect(step.locator("[data-role=code-input]")).to_contain_text("plt.title('squares')")
    expect(step.locator("[data-role=logs]")).to_have_text("rows: 4")
    expect(step.locator("img.output-image")).to_have_count(1)

    link = reply.locator("a.sandbox-link")
    expect(link).to_have_text("Download the data")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "squares.csv"
    assert open(download.value.path()).read().split() == ["1,1", "2,4", "3,9", "4,16"]


def test_file_search_upload_ingestion_and_a_cited_answer(page, pg_server, pg_client, tmp_path):
    assistant = pg_client.beta.assistants.create(model="scripted", name="Librarian",
                                                 tools=[{"type": "file_search"}])
    doc = tmp_path / "zorblax.txt"
    doc.write_text(ZORBLAX)
    bad = tmp_path / "image.bin"
    bad.write_bytes(b"\x00\x01 not a document")

    # Upload through the assistant editor: a vector store is made, ingestion shows its progress.
    page.goto(f"{pg_server.root_url}/playground#/assistants/{assistant.id}")
    expect(page.locator("#file-search-panel")).to_be_visible()
    page.locator("#vs-upload").set_input_files([str(doc), str(bad)])
    rows = page.locator("#vs-files tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator('#vs-files tr:has-text("zorblax.txt")')).to_have_attribute(
        "data-status", "completed", timeout=120_000)
    failed = page.locator('#vs-files tr:has-text("image.bin")')
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed).to_contain_text("unsupported_file")
    expect(page.locator("#vs-counts")).to_contain_text("1 ready, 0 ingesting, 1 failed")
    page.locator("#assistant-save").click()
    expect(page.locator(".toast.info")).to_contain_text("Assistant saved.")
    stores = pg_client.beta.assistants.retrieve(assistant.id).tool_resources.file_search.vector_store_ids
    assert len(stores) == 1

    script(pg_server,
           {"tool_calls": [{"type": "file_search", "file_search": {"query": "Zorblax inventor"}}]},
           {"text": "Mira Tell invented it 【0:0†zorblax.txt】."})
    page.locator("#assistant-chat").click()
    expect(page.locator("#chat-assistant")).to_have_value(assistant.id)
    page.locator("#composer-input").fill("Who invented the Zorblax engine?")
    page.locator("#send").click()
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", "completed", timeout=90_000)
    expect(reply.locator(".md")).to_have_text("Mira Tell invented it [1].")
    expect(reply.locator("a.cite")).to_have_attribute("title", "zorblax.txt")
    expect(reply.locator("ol.refs a.ref")).to_have_text("[1] zorblax.txt")

    # The reference opens the cited file.
    reply.locator("ol.refs a.ref").click()
    viewer = page.locator("dialog.modal")
    expect(viewer.locator("h2")).to_have_text("zorblax.txt")
    expect(viewer.locator("[data-role=file-text]")).to_contain_text("invented by Mira Tell")
    viewer.locator("button[aria-label=Close]").click()

    # The inspector lists the search's results with their scores and content.
    search = page.locator("details.run").first.locator(".call[data-call-type=file_search]")
    top = search.locator("li.result").first
    expect(top.locator("a.result-file")).to_have_text("zorblax.txt")
    expect(top.locator("[data-role=score]")).to_have_text(re.compile(r"score (0|1)\.\d{3}"))
    top.locator("details.result-content summary").click()
    expect(top.locator("details.result-content pre")).to_contain_text("Mira Tell")


def test_submitting_a_function_output(page, pg_server, pg_client):
    assistant = pg_client.beta.assistants.create(model="scripted", name="Weather", tools=[WEATHER])
    script(pg_server,
           {"tool_calls": [{"type": "function", "function": {"name": "get_weather",
                                                             "arguments": {"city": "Paris"}}}]},
           {"text": "It is 21 °C in Paris."})
    chat(page, pg_server, assistant.id, "Weather in Paris?")
    run = page.locator("details.run").first
    expect(run.locator("[data-role=run-status]")).to_have_text("requires action")
    form = run.locator("form.tool-outputs")
    expect(form.locator(".fn-name")).to_have_text("get_weather")
    expect(form.locator("pre")).to_contain_text('"city": "Paris"')
    form.locator("textarea").fill(json.dumps({"temperature_c": 21}))
    form.locator("[data-role=submit-outputs]").click()

    expect(last_reply(page).locator(".md")).to_have_text("It is 21 °C in Paris.")
    run = page.locator("details.run").first
    expect(run.locator("[data-role=run-status]")).to_have_text("completed")
    expect(run.locator("[data-role=output]")).to_contain_text('"temperature_c": 21')
    thread_id = page.locator("#thread-id").inner_text()
    (done,) = pg_client.beta.threads.runs.list(thread_id).data
    assert done.status == "completed"


def test_api_errors_are_readable_messages(page, pg_server):
    page.goto(f"{pg_server.root_url}/playground#/threads")
    page.locator("#open-thread-id").fill("thread_doesnotexist")
    page.locator("#open-thread-id").press("Enter")
    expect(page.locator(".toast.error")).to_contain_text("No thread found with id 'thread_doesnotexist'. (404)")
    page.goto(f"{pg_server.root_url}/playground#/threads/thread_gone")
    expect(page.locator("#messages .error-text")).to_have_text("No thread found with id 'thread_gone'.")


def test_api_key_prompt_and_a_key_kept_for_the_tab_only(browser, start_server):
    server = start_server("playground-key", "--model", "scripted", "--api-key", "sekrit")
    # The page, its assets and the docs need no key; the API does.
    assert httpx.get(f"{server.root_url}/playground").status_code == 200
    assert httpx.get(f"{server.root_url}/playground/static/app.js").status_code == 200
    assert httpx.get(f"{server.root_url}/docs").status_code == 200
    assert httpx.get(f"{server.base_url}/assistants").status_code == 401
    page, seen = open_page(browser, server.root_url)
    try:
        page.goto(f"{server.root_url}/playground#/assistants")
        dialog = page.locator("dialog.modal")
        expect(dialog.locator("h2")).to_have_text("API key required")
        page.locator("#api-key-input").fill("wrong")
        page.locator("#api-key-input").press("Enter")
        expect(dialog).to_contain_text("The server refused this key")
        page.locator("#api-key-input").fill("sekrit")
        page.locator("#api-key-input").press("Enter")
        expect(page.locator("#server-status")).to_contain_text("models")
        expect(page.locator("#assistant-list")).to_contain_text("No assistants yet.")
        assert page.evaluate("sessionStorage.getItem('airlock.apiKey')") == "sekrit"
        assert page.evaluate("localStorage.getItem('airlock.apiKey')") is None
        page.reload()  # the same tab keeps it
        expect(page.locator("#server-status")).to_contain_text("models")
        expect(page.locator("dialog.modal")).to_have_count(0)
        page.locator("#a-name").fill("Keyed")
        page.locator("#assistant-save").click()
        expect(page.locator(".toast.info")).to_contain_text("Assistant created.")
        assert server.client("sekrit").beta.assistants.list().data[0].name == "Keyed"
    finally:
        page.context.close()
    assert seen.foreign(server.root_url) == []
    # Another tab (a new context here) has no key and asks again.
    other, _ = open_page(browser, server.root_url)
    try:
        other.goto(f"{server.root_url}/playground")
        expect(other.locator("dialog.modal h2")).to_have_text("API key required")
    finally:
        other.context.close()


def test_no_request_leaves_for_another_host(page, pg_server, pg_client):
    assistant = pg_client.beta.assistants.create(model="scripted", name="Tour")
    response = page.goto(f"{pg_server.root_url}/playground")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    for view in ("#/assistants", f"#/assistants/{assistant.id}", "#/threads", "#/responses",
                 "#/scripted"):
        page.goto(f"{pg_server.root_url}/playground{view}")
        expect(page.locator("main#view")).not_to_contain_text("Loading…")
    chat(page, pg_server, assistant.id, "hello")
    expect(last_reply(page)).to_have_attribute("data-status", "completed")
    # The interactive API docs: Swagger UI from packaged files, reading the local OpenAPI document.
    page.goto(f"{pg_server.root_url}/docs")
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    expect(page.locator(".swagger-ui")).to_contain_text("/v1/assistants")
    urls = list(page.requests)  # type: ignore[attr-defined]
    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in urls)
    assert any(u.endswith("/openapi.json") for u in urls)
    assert any("/playground/static/" in u for u in urls)
    assert page.requests.foreign(pg_server.root_url) == []  # type: ignore[attr-defined]


def test_scripted_panel_queues_for_one_thread_shows_and_clears(page, pg_server, pg_client):
    thread = pg_client.beta.threads.create()
    page.goto(f"{pg_server.root_url}/playground#/scripted?thread={thread.id}")
    expect(page.locator("#script-target")).to_have_value(thread.id)
    page.locator("#script-kind").select_option("function")
    page.locator("#script-fn-name").fill("get_weather")
    page.locator("#script-fn-args").fill('{"city": "Oslo"}')
    page.locator("#script-queue").click()
    mine = page.locator(f'.queue[data-thread="{thread.id}"]')
    expect(mine.locator("[data-role=count]")).to_have_text("1 queued")
    expect(mine.locator("ol.replies")).to_contain_text('"city": "Oslo"')
    expect(page.locator(".queue[data-thread=global] [data-role=count]")).to_have_text("0 queued")
    page.locator("#script-kind").select_option("text")
    page.locator("#script-text").fill("for anyone")
    page.locator("#script-target").select_option("")
    page.locator("#script-queue").click()
    expect(page.locator(".queue[data-thread=global] [data-role=count]")).to_have_text("1 queued")
    # The server holds what the panel shows: one reply for the thread, one for any thread.
    replies = httpx.get(f"{pg_server.root_url}/airlock/v1/scripted/replies",
                        params={"thread_id": thread.id}).json()["replies"]
    assert replies[0]["tool_calls"][0]["function"]["name"] == "get_weather"

    mine.locator("[data-role=clear]").click()
    expect(mine).to_have_count(0)  # an emptied thread queue leaves the list
    assert httpx.get(f"{pg_server.root_url}/airlock/v1/scripted/replies",
                     params={"thread_id": thread.id}).json()["replies"] == []
    expect(page.locator(".queue[data-thread=global] [data-role=count]")).to_have_text("1 queued")
    page.locator("#script-clear-all").click()
    expect(page.locator(".toast.info").last).to_contain_text("Cleared 1 queued reply.")
    expect(page.locator(".queue[data-thread=global] [data-role=count]")).to_have_text("0 queued")
    assert httpx.get(f"{pg_server.root_url}/airlock/v1/scripted/replies").json()["replies"] == []


def test_threads_are_listed_opened_and_deleted(page, pg_server, pg_client):
    assistant = pg_client.beta.assistants.create(model="scripted", name="Lister")
    chat(page, pg_server, assistant.id, "first thread")
    expect(last_reply(page)).to_have_attribute("data-status", "completed")
    made = page.locator("#thread-id").inner_text()
    # A thread made elsewhere (by an app, say) opens by its id and joins the list.
    other = pg_client.beta.threads.create(messages=[{"role": "user", "content": "made by an app"}])
    page.locator("#open-thread-id").fill(other.id)
    page.locator("#open-thread-id").press("Enter")
    expect(page.locator("#thread-id")).to_have_text(other.id)
    expect(page.locator("article.msg.user")).to_contain_text("made by an app")
    expect(page.locator("#thread-list a.item")).to_have_count(2)

    page.on("dialog", lambda d: d.accept())
    page.locator(f'#thread-list button[aria-label="Delete {made}"]').click()
    expect(page.locator(".toast.info")).to_contain_text("Thread deleted.")
    expect(page.locator(f'#thread-list a[data-id="{made}"]')).to_have_count(0)
    with pytest.raises(openai.NotFoundError):
        pg_client.beta.threads.retrieve(made)


def send_response(page, text: str):
    """Types `text` in the Responses tab, sends it, waits for its turn to end; returns the turn."""
    before = page.locator("#r-turns .turn").count()
    page.locator("#r-input").fill(text)
    page.locator("#r-input").press("Enter")
    turn = page.locator("#r-turns .turn").nth(before)
    expect(turn.locator(".msg.user")).to_contain_text(text)
    expect(turn).to_have_attribute("data-status", re.compile("^(completed|incomplete|failed)$"),
                                   timeout=90_000)
    return turn


def test_responses_stream_and_chain_turns(page, pg_server, pg_client):
    script(pg_server, {"text": "Hello **world**, this reply streams one word at a time.",
                       "delay_ms": 30},
           {"text": "Second answer."})
    page.goto(f"{pg_server.root_url}/playground#/responses")
    expect(page.locator(".tabs a[data-view=responses]")).to_have_attribute("aria-current", "page")
    expect(page.locator("#r-model")).to_have_value("scripted")
    expect(page.locator("#r-chain")).to_have_text("a new chain")

    first = send_response(page, "Hi there")
    expect(first).to_have_attribute("data-status", "completed")
    reply = first.locator(".msg.assistant .md")
    expect(reply).to_have_text("Hello world, this reply streams one word at a time.")
    expect(reply.locator("strong")).to_have_text("world")
    assert int(first.get_attribute("data-deltas")) > 5  # drawn as the deltas came
    first_id = first.get_attribute("data-response-id")
    assert first_id.startswith("resp_")
    expect(page.locator("#r-chain")).to_have_text(f"continues {first_id}")

    # The inspector: the response as it ended, and every raw SSE frame of its stream.
    expect(page.locator("[data-role=response-status]")).to_have_text("completed")
    expect(page.locator("[data-role=response-id]")).to_have_text(first_id)
    expect(page.locator("[data-role=usage]")).to_contain_text(
        re.compile(r"\d+ input · \d+ output · \d+ cached · \d+ total"))
    events = page.locator("#sse-events li.sse-event")
    expect(events.first).to_have_attribute("data-type", "response.created")
    expect(events.last).to_have_attribute("data-type", "[DONE]")
    expect(page.locator("#sse-events li[data-type='response.completed']")).to_have_count(1)
    delta = page.locator("#sse-events li[data-type='response.output_text.delta']").first
    delta.locator("summary").click()
    expect(delta.locator("pre.raw")).to_contain_text("event: response.output_text.delta\ndata: {",
                                                     use_inner_text=True)
    page.locator("#sse-hide-deltas").check()
    expect(delta).to_be_hidden()

    second = send_response(page, "And again")
    expect(second.locator(".msg.assistant .md")).to_have_text("Second answer.")
    second_id = second.get_attribute("data-response-id")
    expect(page.locator("[data-role=previous-response-id]")).to_have_text(first_id)
    assert pg_client.responses.retrieve(second_id).previous_response_id == first_id

    # The chain outlives the view: read back from the server when the tab opens again.
    page.goto(f"{pg_server.root_url}/playground#/scripted")
    expect(page.locator("#script-queue")).to_be_visible()
    page.goto(f"{pg_server.root_url}/playground#/responses")
    turns = page.locator("#r-turns .turn")
    expect(turns).to_have_count(2)
    expect(turns.nth(0).locator(".msg.user .md")).to_have_text("Hi there")
    expect(turns.nth(1).locator(".msg.assistant .md")).to_have_text("Second answer.")
    expect(page.locator("#r-chain")).to_have_text(f"continues {second_id}")

    # "New chat" starts a chain of its own (the reply is the scripted model's echo).
    page.locator("#r-new-chat").click()
    expect(turns).to_have_count(0)
    third = send_response(page, "Fresh start")
    expect(third.locator(".msg.assistant .md")).to_have_text("You said: Fresh start")
    third_id = third.get_attribute("data-response-id")
    assert pg_client.responses.retrieve(third_id).previous_response_id is None


def test_responses_file_search_shows_the_call_and_a_citation(page, pg_server, pg_client, tmp_path):
    doc = tmp_path / "zorblax.txt"
    doc.write_text(ZORBLAX)
    uploaded = pg_client.files.create(file=doc.open("rb"), purpose="assistants")
    store = pg_client.vector_stores.create(name="Zorblax docs")
    ingested = pg_client.vector_stores.files.create_and_poll(vector_store_id=store.id,
                                                             file_id=uploaded.id)
    assert ingested.status == "completed"
    script(pg_server,
           {"tool_calls": [{"type": "file_search", "file_search": {"query": "Zorblax inventor"}}]},
           {"text": "Mira Tell invented it 【0:0†zorblax.txt】."})

    page.goto(f"{pg_server.root_url}/playground#/responses")
    expect(page.locator("#r-vector-store")).to_be_hidden()
    page.locator("#r-file-search").check()
    # file_search needs a store: without one nothing is sent.
    page.locator("#r-input").fill("Who invented the Zorblax engine?")
    page.locator("#r-send").click()
    expect(page.locator(".toast.error")).to_contain_text("Pick a vector store for file_search")
    expect(page.locator("#r-turns .turn")).to_have_count(0)
    page.locator("#r-vector-store").select_option(store.id)

    turn = send_response(page, "Who invented the Zorblax engine?")
    expect(turn).to_have_attribute("data-status", "completed")
    search = turn.locator(".item[data-item-type=file_search_call]")
    expect(search.locator("[data-role=item-status]")).to_have_text("completed")
    expect(search.locator("[data-role=queries]")).to_contain_text("Zorblax inventor")
    top = search.locator("li.result").first
    expect(top.locator("a.result-file")).to_have_text("zorblax.txt")
    expect(top.locator("[data-role=score]")).to_have_text(re.compile(r"score (0|1)\.\d{3}"))
    top.locator("details.result-content summary").click()
    expect(top.locator("details.result-content pre")).to_contain_text("invented by Mira Tell")

    # The citation: a marker where the file was cited, and a reference naming the file.
    answer = turn.locator(".item[data-item-type=message]")
    expect(answer.locator(".md")).to_have_text("Mira Tell invented it[1].")
    expect(answer.locator("a.cite")).to_have_attribute("title", "zorblax.txt")
    expect(answer.locator("ol.refs a.ref")).to_have_text("[1] zorblax.txt")
    answer.locator("ol.refs a.ref").click()
    viewer = page.locator("dialog.modal")
    expect(viewer.locator("h2")).to_have_text("zorblax.txt")
    expect(viewer.locator("[data-role=file-text]")).to_contain_text("invented by Mira Tell")
    viewer.locator("button[aria-label=Close]").click()
    expect(page.locator("#sse-events li[data-type='response.output_text.annotation.added']")
           ).to_have_count(1)
    expect(page.locator("#sse-events li[data-type='response.file_search_call.searching']")
           ).to_have_count(1)

    made = pg_client.responses.retrieve(turn.get_attribute("data-response-id"))
    assert made.tools[0].type == "file_search" and made.tools[0].vector_store_ids == [store.id]
    assert made.output[0].results[0].filename == "zorblax.txt"  # the include was sent
    (annotation,) = made.output[1].content[0].annotations
    assert (annotation.type, annotation.file_id, annotation.index) == ("file_citation", uploaded.id, 21)


def test_responses_code_interpreter_in_an_auto_container(page, pg_server, pg_client):
    code = ("print(6*7)\n"
            "with open('/mnt/data/answer.txt', 'w') as f:\n"
            "    f.write('forty-two')")
    script(pg_server,
           {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": code}}]},
           {"text": "It is 42: [the answer file](sandbox:/mnt/data/answer.txt)"})
    page.goto(f"{pg_server.root_url}/playground#/responses")
    page.locator("#r-code-interpreter").check()
    expect(page.locator("#r-container")).to_have_value("auto")

    turn = send_response(page, "What is six times seven?")
    expect(turn).to_have_attribute("data-status", "completed")
    call = turn.locator(".item[data-item-type=code_interpreter_call]")
    expect(call.locator("[data-role=code]")).to_have_text(code)
    expect(call.locator("[data-role=logs]")).to_have_text("42")
    expect(call.locator("[data-role=container]")).to_have_text(re.compile(r"^cntr_"))
    container_id = call.locator("[data-role=container]").inner_text()
    expect(turn.locator(".item[data-item-type=message] .md")).to_have_text("It is 42: the answer file")
    for event in ("response.code_interpreter_call_code.delta",
                  "response.code_interpreter_call.interpreting",
                  "response.code_interpreter_call.completed"):
        expect(page.locator(f"#sse-events li[data-type='{event}']")).to_have_count(1)

    # The container_file_citation: a link to the container's file, downloaded with the API.
    links = turn.locator("a.container-file")
    expect(links).to_have_count(2)  # in the text, and in the list of the answer's files
    href = links.first.get_attribute("href")
    assert re.fullmatch(rf"/v1/containers/{container_id}/files/cfile_\w+/content", href)
    with page.expect_download() as download:
        links.first.click()
    assert download.value.suggested_filename == "answer.txt"
    assert open(download.value.path()).read() == "forty-two"

    # The auto container joined the list: the next turn can pick it.
    expect(page.locator(f'#r-container option[value="{container_id}"]')).to_have_count(1)
    made = pg_client.responses.retrieve(turn.get_attribute("data-response-id"))
    assert made.tools[0].type == "code_interpreter" and made.output[0].container_id == container_id


def test_the_start_up_banner_names_the_playground(pg_server):
    banner = pg_server.stdout_path.read_text()
    assert f"Playground: {pg_server.root_url}/playground" in banner
    assert f"{pg_server.root_url}/docs" in banner
