"""The clients apps use beside the openai SDK, pointed at airlock as their docs say: LangChain
(`ChatOpenAI`, `OpenAIEmbeddings` feeding a vector store) and LlamaIndex (`OpenAILike`,
`OpenAILikeEmbedding` feeding an index). Each runs in its own venv (scripts/install.sh: they pin
openai 2.x) as a small app in a subprocess; the scripted model answers what is scripted, the real
model what must come from a grammar."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.runs_helpers import clear_script, script

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".cache" / "clients" / "bin" / "python"
WEATHER_CALL = {"tool_calls": [{"type": "function", "function": {
    "name": "get_weather", "arguments": {"city": "Oslo"}}}]}


@pytest.fixture(scope="module")
def scripted(start_server):
    return start_server("clients", "--model", "scripted")


def run_app(app: str, base_url: str, step: str):
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: run scripts/install.sh --test", pytrace=False)
    done = subprocess.run([str(PYTHON), str(ROOT / "tests" / "clients" / app), base_url, step],
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                               "NO_PROXY": "*"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("app, step", [("langchain_app.py", "invoke"),
                                       ("llamaindex_app.py", "complete"),
                                       ("llamaindex_app.py", "chat")])
def test_a_scripted_reply_reaches_the_app(scripted, app, step):
    clear_script(scripted)
    script(scripted, {"text": "Hello from airlock."})
    assert run_app(app, scripted.base_url, step) == "Hello from airlock."


@pytest.mark.parametrize("app", ["langchain_app.py", "llamaindex_app.py"])
def test_a_stream_reaches_the_app_whole(scripted, app):
    clear_script(scripted)
    script(scripted, {"text": "one two three"})
    out = run_app(app, scripted.base_url, "stream")
    if app == "langchain_app.py":
        assert out["text"] == "one two three"
        assert out["usage"]["output_tokens"] == 3
    else:
        assert out == "one two three"


def test_langchain_bind_tools_reads_the_call(scripted):
    clear_script(scripted)
    script(scripted, WEATHER_CALL)
    assert run_app("langchain_app.py", scripted.base_url, "tools") == [
        {"name": "get_weather", "args": {"city": "Oslo"}}]


@pytest.mark.slow
def test_langchain_structured_output_on_the_real_model(server):
    city = run_app("langchain_app.py", server.base_url, "structured")
    assert set(city) == {"name", "country"} and all(isinstance(v, str) for v in city.values())


@pytest.mark.parametrize("app, step", [("langchain_app.py", "embeddings"),
                                       ("llamaindex_app.py", "retrieve")])
def test_embeddings_feed_the_apps_vector_store(scripted, app, step):
    assert run_app(app, scripted.base_url, step) == ["Bread needs flour, water, salt and yeast."]


def test_langchain_over_the_responses_api(scripted):
    """ChatOpenAI(use_responses_api=True): invoke, stream and bind_tools reach /v1/responses."""
    clear_script(scripted)
    script(scripted, {"text": "Hello over Responses."}, {"text": "one two three"}, WEATHER_CALL)
    app = "langchain_app.py"
    assert run_app(app, scripted.base_url, "responses_invoke") == "Hello over Responses."
    assert run_app(app, scripted.base_url, "responses_stream") == "one two three"
    assert run_app(app, scripted.base_url, "responses_tools") == [
        {"name": "get_weather", "args": {"city": "Oslo"}}]


@pytest.mark.slow
def test_langchain_structured_output_over_responses_on_the_real_model(server):
    city = run_app("langchain_app.py", server.base_url, "responses_structured")
    assert set(city) == {"name", "country"} and all(isinstance(v, str) for v in city.values())


def test_llamaindex_over_the_responses_api(scripted):
    """OpenAILikeResponses with track_previous_responses: a two-turn chain, then a stream."""
    clear_script(scripted)
    script(scripted, {"text": "Hello, Ada."}, {"text": "Your name is Ada."},
           {"text": "one two three"})
    app = "llamaindex_app.py"
    first, second, last_id = run_app(app, scripted.base_url, "responses_chat")
    assert (first, second) == ("Hello, Ada.", "Your name is Ada.")
    client = scripted.client()
    last = client.responses.retrieve(last_id)
    assert last.previous_response_id is not None  # the second turn chained to the first
    earlier = client.responses.input_items.list(last.previous_response_id).data
    assert [i.content[0].text for i in earlier] == ["My name is Ada."]
    assert run_app(app, scripted.base_url, "responses_stream") == "one two three"
