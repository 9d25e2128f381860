"""file_search in responses on the scripted model, through the strict openai client and the Node
SDK's ResponseStream: the file_search_call item before the message, its results when included,
file_citation annotations at their place with no marker left in the text, the events in
OpenAI's order, forcing by tool_choice, and what is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import openai
import pytest

from fs_helpers import PENGUINS, ZORBLAX, ready_store
from helpers import api_error
from runs_helpers import clear_script, script

NODE_DIR = Path(__file__).parent / "node"
ANSWER = "Mira Tell invented it 【0:0†zorblax.txt】."


@pytest.fixture(scope="module")
def store(fs_client):
    return ready_store(fs_client, {"zorblax.txt": ZORBLAX, "penguins.md": PENGUINS})


@pytest.fixture()
def tools(fs_server, store):
    clear_script(fs_server)
    yield [{"type": "file_search", "vector_store_ids": [store[0].id]}]
    clear_script(fs_server)


def search(query: str) -> dict:
    return {"tool_calls": [{"type": "file_search", "file_search": {"query": query}}]}


def test_a_search_then_a_cited_answer(fs_client, fs_server, store, tools):
    script(fs_server, search("Zorblax engine inventor"), {"text": ANSWER})
    r = fs_client.responses.create(model="gpt-4o", input="Who invented the Zorblax engine?",
                                   tools=tools, include=["file_search_call.results"])
    assert r.status == "completed"
    call, message = r.output
    assert call.type == "file_search_call" and call.id.startswith("fs_")
    assert call.status == "completed"
    assert "Zorblax engine inventor" in call.queries
    assert call.results[0].filename == "zorblax.txt"
    assert call.results[0].file_id == store[1]["zorblax.txt"].id
    assert "Mira Tell" in call.results[0].text and 0 < call.results[0].score <= 1
    # No marker in the text: the citation is an annotation at the marker's place.
    assert r.output_text == "Mira Tell invented it."
    (citation,) = message.content[0].annotations
    assert citation.type == "file_citation" and citation.filename == "zorblax.txt"
    assert citation.file_id == store[1]["zorblax.txt"].id
    assert citation.index == len("Mira Tell invented it")
    # Echoed as OpenAI echoes it, defaults filled in.
    (tool,) = r.tools
    assert tool.type == "file_search" and tool.max_num_results == 20
    assert tool.ranking_options.ranker == "auto" and tool.ranking_options.score_threshold == 0
    # Stored with the response; results only when asked for.
    again = fs_client.responses.retrieve(r.id)
    assert [i.type for i in again.output] == ["file_search_call", "message"]


def test_results_stay_out_unless_included_and_the_chain_goes_on(fs_client, fs_server, tools):
    script(fs_server, search("penguins"), {"text": "They eat krill."},
           {"text": "Antarctica."})
    r = fs_client.responses.create(model="gpt-4o", input="What do penguins eat?", tools=tools)
    assert r.output[0].type == "file_search_call" and r.output[0].results is None
    follow = fs_client.responses.create(model="gpt-4o", input="Where do they live?",
                                        previous_response_id=r.id)
    assert follow.output_text == "Antarctica."


def test_the_stream_in_openais_order(fs_client, fs_server, tools):
    script(fs_server, search("Zorblax engine inventor"), {"text": ANSWER})
    with fs_client.responses.stream(model="gpt-4o", input="Who invented it?",
                                    tools=tools) as stream:
        events = [e.model_dump(warnings=False) for e in stream]
        final = stream.get_final_response()
    kinds = [e["type"] for e in events]
    assert kinds[:7] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.file_search_call.in_progress", "response.file_search_call.searching",
        "response.file_search_call.completed", "response.output_item.done"]
    assert events[2]["item"]["status"] == "in_progress" and events[2]["output_index"] == 0
    message_events = [e for e in events[7:] if "output_index" in e]
    assert {e["output_index"] for e in message_events} == {1}
    added = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert [a["annotation"]["filename"] for a in added] == ["zorblax.txt"]
    assert "".join(e["delta"] for e in events
                   if e["type"] == "response.output_text.delta") == final.output_text
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_forced_search_and_background(fs_client, fs_server, tools):
    script(fs_server, search("kelp valve"), {"text": "Part XQ-7731 【0:0†zorblax.txt】."})
    r = fs_client.responses.create(model="gpt-4o", input="Which part?", tools=tools,
                                   tool_choice={"type": "file_search"}, background=True)
    with fs_client.responses.retrieve(r.id, stream=True) as stream:
        kinds = [e.type for e in stream]
    assert "response.file_search_call.searching" in kinds
    done = fs_client.responses.retrieve(r.id)
    assert done.status == "completed" and done.output_text == "Part XQ-7731."
    assert done.output[1].content[0].annotations[0].filename == "zorblax.txt"


def test_an_assistant_as_the_prompt_searches_its_stores(fs_client, fs_server, store, tools):
    asst = fs_client.beta.assistants.create(
        model="gpt-4o", instructions="Answer from the files.",
        tools=[{"type": "file_search", "file_search": {"max_num_results": 5}}],
        tool_resources={"file_search": {"vector_store_ids": [store[0].id]}})
    script(fs_server, search("Zorblax engine inventor"), {"text": ANSWER})
    r = fs_client.responses.create(input="Who invented the Zorblax engine?",
                                   prompt={"id": asst.id})
    assert [i.type for i in r.output] == ["file_search_call", "message"]
    (tool,) = r.tools
    assert tool.type == "file_search" and tool.vector_store_ids == [store[0].id]
    assert tool.max_num_results == 5
    assert r.output[1].content[0].annotations[0].filename == "zorblax.txt"


def test_the_node_sdk_stream_accepts_the_search_events(fs_server, tools):
    script(fs_server, search("Zorblax engine inventor"), {"text": ANSWER})
    out = subprocess.run(["node", str(NODE_DIR / "responses_tools.mjs"),
                          fs_server.base_url, json.dumps(tools)],
                         capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["items"] == ["file_search_call", "message"]
    assert seen["annotations"] == ["zorblax.txt"] and seen["text"] == "Mira Tell invented it."


@pytest.mark.parametrize("tool, param", [
    ({"type": "file_search"}, "tools[0].vector_store_ids"),
    ({"type": "file_search", "vector_store_ids": []}, "tools[0].vector_store_ids"),
    ({"type": "file_search", "vector_store_ids": ["vs_x"], "max_num_results": 0},
     "tools[0].max_num_results"),
    ({"type": "file_search", "vector_store_ids": ["vs_missing"]}, "tools"),
])
def test_bad_file_search_tools_are_400s_naming_the_param(fs_client, tool, param):
    e = api_error(openai.BadRequestError, fs_client.responses.create, model="gpt-4o",
                  input="x", tools=[tool])
    assert e.body["param"] == param, e.body


def test_forcing_a_tool_the_request_lacks_is_a_400(fs_client):
    e = api_error(openai.BadRequestError, fs_client.responses.create, model="gpt-4o",
                  input="x", tool_choice={"type": "file_search"})
    assert e.body["param"] == "tool_choice.type"
