"""--chroma-url: file_search vectors live in a real Chroma server (`chroma run`), not in the
data dir; airlock still computes the embeddings and passes them explicitly."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import chromadb
import httpx
import pytest
from chromadb.config import Settings

from fs_helpers import PENGUINS, ZORBLAX, ready_store
from runs_helpers import script

# A deployment check, not an SDK one: left out of the second SDK pass.
pytestmark = pytest.mark.slow
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

@pytest.fixture(scope="module")
def chroma(tmp_path_factory):
    """`chroma run` on a fresh directory; (url, client of its own)."""
    base = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    with open(base / "server.log", "wb") as log:
        proc = subprocess.Popen([CHROMA, "run", "--path", str(base / "db"), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (base / "server.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "chroma run did not become ready"
        try:
            proc.wait(timeout=0.2)  # the readiness poll's tick
        except subprocess.TimeoutExpired:
            pass
    own = chromadb.HttpClient(host="127.0.0.1", port=port,
                              settings=Settings(anonymized_telemetry=False))
    yield f"http://127.0.0.1:{port}", own
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def served(start_server, chroma):
    server = start_server("chroma-url", "--model", "scripted", "--chroma-url", chroma[0])
    client = server.client()
    yield server, client
    client.close()


def test_file_search_run_through_a_chroma_server(served, chroma):
    server, client = served
    _, own = chroma
    store, files = ready_store(client, {"zorblax.txt": ZORBLAX, "penguins.md": PENGUINS})
    assert store.file_counts.completed == 2

    # The vectors are in the Chroma server, in the store's collection, with no embedding
    # function of Chroma's: airlock sent 384-dimensional all-MiniLM vectors itself.
    (collection,) = [c for c in own.list_collections() if c.name == f"s-{store.id}"]
    entries = own.get_collection(collection.name).get(include=["embeddings", "metadatas"])
    assert len(entries["ids"]) >= 2
    assert {i.split(":")[0] for i in entries["ids"]} == {f.id for f in files.values()}
    assert len(entries["embeddings"][0]) == 384
    # ... and not in an embedded index under the data dir.
    assert not (server.data_dir / "index" / "chroma").exists()
    # A semantic-only search (no keyword ranking) is answered from the server's vectors.
    found = client.vector_stores.search(vector_store_id=store.id, query="flightless seabirds",
                                        ranking_options={"ranker": "none"}).data
    assert found[0].filename == "penguins.md"

    asst = client.beta.assistants.create(
        model="scripted", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Who invented the Zorblax engine?"}])
    script(server, {"tool_calls": [{"type": "file_search",
                                    "file_search": {"query": "who built the kelp-powered motor"}}]},
           {"text": "Mira Tell invented it."}, thread_id=thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id,
                                                   poll_interval_ms=50)
    assert run.status == "completed", run.last_error
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    step = client.beta.threads.runs.steps.retrieve(step.id, thread_id=thread.id, run_id=run.id,
                                                   include=[INCLUDE])
    results = step.step_details.tool_calls[0].file_search.results
    assert results[0].file_name == "zorblax.txt"
    assert "Mira Tell" in results[0].content[0].text

    # Deleting the store drops its collection on the server.
    client.vector_stores.delete(store.id)
    assert f"s-{store.id}" not in {c.name for c in own.list_collections()}
