"""file_search on the real GGUF: the model writes the query, the search finds the fact, and every
citation in the answer slices exactly its marker."""

from __future__ import annotations

import json

import pytest

from fs_helpers import PENGUINS, VOLCANO, ZORBLAX, ready_store

pytestmark = pytest.mark.slow


def test_forced_file_search_finds_the_fact_and_cites_exactly(client):
    store, files = ready_store(client, {"zorblax.txt": ZORBLAX, "penguins.md": PENGUINS,
                                        "volcano.html": VOLCANO})
    assistant = client.beta.assistants.create(
        model="gpt-4o", instructions="Answer questions about the user's documents.",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = client.beta.threads.create(messages=[
        {"role": "user", "content": "Who invented the Zorblax engine?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, tool_choice={"type": "file_search"},
        max_completion_tokens=200,
        include=["step_details.tool_calls[*].file_search.results[*].content"])
    assert run.status in ("completed", "incomplete"), run.last_error
    steps = client.beta.threads.runs.steps.list(
        run.id, thread_id=thread.id, order="asc",
        include=["step_details.tool_calls[*].file_search.results[*].content"]).data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    (call,) = steps[0].step_details.tool_calls
    top = call.file_search.results[0]
    assert top.file_id == files["zorblax.txt"].id
    assert "Mira Tell" in top.content[0].text
    (msg,) = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    text = msg.content[0].text
    for a in text.annotations:
        assert text.value[a.start_index:a.end_index] == a.text
        assert a.file_citation.file_id in {f.id for f in files.values()}
    assert run.usage.prompt_tokens > 0 and run.usage.completion_tokens > 0
    # The query the model wrote is its own (grammar-bound JSON), and the run shows the usage of
    # both model calls.
    assert steps[0].usage.completion_tokens > 0
    json.dumps(call.model_dump())
