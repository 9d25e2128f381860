"""Remote models: an airlock model entry served by a real OpenAI-compatible inference server
(llama-cpp-python's `llama_cpp.server` on the embedded SmolLM2 GGUF), started once for the module."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
import openai
import pytest

from airlock.models.registry import embedded_gguf
from runs_helpers import wait_for_text, wait_run

pytestmark = pytest.mark.slow

SERVED_AS = "smol-served"
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}
ENDED = ("completed", "failed", "cancelled", "expired", "incomplete", "requires_action")



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

@pytest.fixture(scope="module")
def inference(tmp_path_factory):
    """`python -m llama_cpp.server` on the embedded GGUF; its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf()),
             "--model_alias", SERVED_AS, "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "4096", "--n_threads", "1", "--verbose", "False"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"llama_cpp.server exited:\n{log.read_text()}"
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"llama_cpp.server not ready:\n{log.read_text()}"
        try:
            proc.wait(timeout=0.2)  # the readiness poll's tick
        except subprocess.TimeoutExpired:
            pass
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def silent():
    """A port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/v1"


@pytest.fixture(scope="module")
def remote(start_server, inference, silent, tmp_path_factory):
    config = tmp_path_factory.mktemp("remote-config") / "models.toml"
    config.write_text(f"""
default = "remote"

[models.remote]
base_url = "{inference}"
model = "{SERVED_AS}"
constrain = "grammar"
call_threshold = 0.005

[models.remote-tools]
base_url = "{inference}"
model = "{SERVED_AS}"
constrain = "tools"

[models.remote-dead]
base_url = "http://127.0.0.1:{free_port()}/v1"

[models.remote-silent]
base_url = "{silent}"
timeout = 1
""")
    server = start_server("remote", "--models-config", str(config))
    c = server.client()
    yield c
    c.close()


def ask(client, text: str, model: str = "remote", **run_kw):
    asst = client.beta.assistants.create(model=model, tools=run_kw.pop("tools", []))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                                   poll_interval_ms=50, **run_kw)
    return thread, run


def text_of(client, thread_id: str, run_id: str) -> str:
    msgs = client.beta.threads.messages.list(thread_id, run_id=run_id).data
    return msgs[0].content[0].text.value


def test_models_lists_the_remote_entries(remote):
    names = {m.id for m in remote.models.list().data}
    assert {"remote", "remote-tools", "remote-dead"} <= names


def test_run_matches_the_server_and_reports_its_usage(remote, inference):
    thread, run = ask(remote, "Name three colors.", temperature=0, max_completion_tokens=16)
    assert run.status in ("completed", "incomplete"), run.last_error
    assert run.model == "remote"
    text = text_of(remote, thread.id, run.id)
    # The same request straight to the inference server: same greedy reply, same token count.
    direct = openai.OpenAI(base_url=inference, api_key="x", max_retries=0).chat.completions.create(
        model=SERVED_AS, messages=[{"role": "user", "content": "Name three colors."}],
        temperature=0, top_p=0.9, max_tokens=16)
    assert text == direct.choices[0].message.content
    assert run.usage.completion_tokens == direct.usage.completion_tokens
    assert run.usage.prompt_tokens > 0
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens


def test_streamed_run_delivers_token_deltas(remote):
    asst = remote.beta.assistants.create(model="remote")
    thread = remote.beta.threads.create(messages=[{"role": "user", "content": "Tell me about the sea."}])
    deltas = []
    with remote.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id,
                                         max_completion_tokens=32) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                deltas.append(event.data.delta.content[0].text.value)
        final = stream.get_final_run()
        accumulated = stream.get_final_messages()[0].content[0].text.value
    assert final.status in ("completed", "incomplete")
    assert len(deltas) > 5  # token by token, not one buffered reply
    assert accumulated == "".join(deltas) == text_of(remote, thread.id, final.id)
    assert final.usage.completion_tokens >= len(deltas) > 0


@pytest.mark.parametrize("model", ["remote", "remote-tools"])
def test_function_call_then_submit_tool_outputs(remote, model):
    asst = remote.beta.assistants.create(model=model, tools=[{"type": "function", "function": WEATHER}])
    thread = remote.beta.threads.create(
        messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    run = remote.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=50,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert run.status == "requires_action", run.last_error
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    done = remote.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, poll_interval_ms=50,
        tool_outputs=[{"tool_call_id": call.id, "output": "18 degrees and sunny"}])
    assert done.status in ("completed", "incomplete"), done.last_error
    assert text_of(remote, thread.id, done.id).strip()
    assert done.usage.completion_tokens > 0


def test_auto_tool_choice_calls_only_when_a_call_fits(remote):
    tools = [{"type": "function", "function": WEATHER}]
    _, run = ask(remote, "What is the weather in Paris?", tools=tools)
    assert run.status == "requires_action", run.last_error
    assert run.required_action.submit_tool_outputs.tool_calls[0].function.name == "get_weather"
    thread, run = ask(remote, "Tell me a joke.", tools=tools, max_completion_tokens=24)
    assert run.status in ("completed", "incomplete"), run.last_error
    assert text_of(remote, thread.id, run.id).strip()


@pytest.mark.parametrize("model", ["remote", "remote-tools"])
def test_json_object_reply_parses(remote, model):
    # remote: our grammar; remote-tools: the server's own response_format.
    thread, run = ask(remote, "Describe a cat as a JSON object.", model=model,
                      response_format={"type": "json_object"}, max_completion_tokens=128,
                      temperature=0)
    assert run.status == "completed", run.last_error
    assert isinstance(json.loads(text_of(remote, thread.id, run.id)), dict)


def test_cancel_stops_generation_and_the_server_stays_usable(remote):
    asst = remote.beta.assistants.create(model="remote")
    thread = remote.beta.threads.create(
        messages=[{"role": "user", "content": "Write a very long story about a dragon."}])
    run = remote.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id,
                                          max_completion_tokens=2000)
    wait_for_text(remote, thread.id, run.id)
    remote.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    run = wait_run(remote, thread.id, run.id, lambda r: r.status in ENDED)
    assert run.status == "cancelled"
    partial = text_of(remote, thread.id, run.id)
    assert run.usage is None or run.usage.completion_tokens < 2000
    assert partial
    # The inference server is free again: a next run completes.
    _, after = ask(remote, "Say hello.", max_completion_tokens=16)
    assert after.status in ("completed", "incomplete"), after.last_error


def test_unreachable_server_fails_the_run_naming_it(remote):
    _, run = ask(remote, "Hello?", model="remote-dead")
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    assert "inference server http://127.0.0.1:" in run.last_error.message
    assert "could not be reached" in run.last_error.message


def test_silent_server_times_out(remote, silent):
    _, run = ask(remote, "Hello?", model="remote-silent")
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    assert f"inference server {silent} timed out" in run.last_error.message
