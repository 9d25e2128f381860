"""Built-in tools in responses beside the same in runs: a code_interpreter round and a
file_search round, end to end over HTTP, on the scripted model (so the model costs nothing and
what is left is the server, the store, the search index and the kernel).

Run: .venv/bin/python scripts/bench/responses_tools.py [--runs 3] [--write docs/benchmarks.md]

Each run starts `airlock serve --model scripted` on a fresh data dir. Per sample, a response
(`POST /v1/responses`, not streamed: it returns when done) and a run (`POST /threads/{id}/runs`
with `stream: true`, read to `[DONE]`; its thread is made before the clock starts) make the same
tool call and give the same answer, alternately. The code is `1+1` in a warm kernel: the
response's in an explicit container used before, the run's in its thread's kernel used before.
The search is one query over a one-file store.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _report import bench_main, summary  # noqa: E402
from _server import airlock_server  # noqa: E402

SAMPLES = 20
WARM = 3
HEADERS = {"Authorization": "Bearer x", "OpenAI-Beta": "assistants=v2"}
DOC = (b"The Zorblax engine was invented by Mira Tell in 1987 in Velmora. It runs on "
       b"compressed kelp.")
CODE = {"tool_calls": [{"type": "code_interpreter", "code_interpreter": {"input": "1+1"}}]}
SEARCH = {"tool_calls": [{"type": "file_search", "file_search": {"query": "Zorblax"}}]}
ANSWER = {"text": "Done."}


class Client:
    def __init__(self, root: str):
        self.root = root
        self.http = httpx.Client(base_url=f"{root}/v1", headers=HEADERS, timeout=120)

    def post(self, path: str, body: dict) -> dict:
        r = self.http.post(path, json=body)
        r.raise_for_status()
        return r.json()

    def script(self, *replies: dict) -> None:
        httpx.post(f"{self.root}/airlock/v1/scripted/replies",
                   json={"replies": list(replies)}).raise_for_status()

    def store(self) -> str:
        f = self.http.post("/files", files={"file": ("zorblax.txt", DOC)},
                           data={"purpose": "assistants"}).json()
        store = self.post("/vector_stores", {"name": "docs", "file_ids": [f["id"]]})
        deadline = time.monotonic() + 120
        while self.http.get(f"/vector_stores/{store['id']}").json()["file_counts"][
                "completed"] < 1:
            assert time.monotonic() < deadline, "the file was not ingested"
            time.sleep(0.1)  # polling the ingestion, before any measurement
        return str(store["id"])

    def response(self, tool: dict, reply: dict) -> float:
        self.script(reply, ANSWER)
        t0 = time.perf_counter()
        r = self.post("/responses", {"model": "scripted", "input": "go", "tools": [tool]})
        elapsed = time.perf_counter() - t0
        assert r["status"] == "completed" and r["output"][-1]["content"][0]["text"] == "Done.", r
        return elapsed

    def run(self, assistant: str, thread: str, reply: dict) -> float:
        self.script(reply, ANSWER)
        self.post(f"/threads/{thread}/messages", {"role": "user", "content": "go"})
        t0 = time.perf_counter()
        with self.http.stream("POST", f"/threads/{thread}/runs",
                              json={"assistant_id": assistant, "stream": True}) as r:
            lines = [line for line in r.iter_lines()]
        elapsed = time.perf_counter() - t0
        assert "event: thread.run.completed" in lines, lines[-6:]
        return elapsed


def pairs(c: Client, tool: dict, assistant: str, reply: dict) -> tuple[list[float], list[float]]:
    thread = c.post("/threads", {})["id"]
    ours, runs = [], []
    for k in range(WARM + SAMPLES):
        if k % 2:
            r, t = c.response(tool, reply), c.run(assistant, thread, reply)
        else:
            t, r = c.run(assistant, thread, reply), c.response(tool, reply)
        if k >= WARM:
            ours.append(r)
            runs.append(t)
    return ours, runs


def one_run() -> dict[str, float]:
    with airlock_server("--model", "scripted") as (root, _):
        c = Client(root)
        store = c.store()
        container = c.post("/containers", {"name": "bench"})["id"]
        code_asst = c.post("/assistants", {"model": "scripted",
                                           "tools": [{"type": "code_interpreter"}]})["id"]
        search_asst = c.post("/assistants", {
            "model": "scripted", "tools": [{"type": "file_search"}],
            "tool_resources": {"file_search": {"vector_store_ids": [store]}}})["id"]
        code_r, code_t = pairs(c, {"type": "code_interpreter", "container": container},
                               code_asst, CODE)
        search_r, search_t = pairs(c, {"type": "file_search", "vector_store_ids": [store]},
                                   search_asst, SEARCH)
    load = float(Path("/proc/loadavg").read_text().split()[0])
    p50 = statistics.median
    return {"code_response_ms": p50(code_r) * 1000, "code_run_ms": p50(code_t) * 1000,
            "search_response_ms": p50(search_r) * 1000, "search_run_ms": p50(search_t) * 1000,
            "load1": load}


def table(results: list[dict[str, float]]) -> str:
    med, ratio = summary(results)
    rows = [
        ("code_interpreter `1+1` in a warm container, whole response p50 (scripted model)",
         f"{med('code_response_ms'):.1f} ms", "≤ 50 ms"),
        ("… the same in a run (warm thread kernel, streamed to `[DONE]`) p50",
         f"{med('code_run_ms'):.1f} ms → response ÷ run **"
         f"{ratio('code_response_ms', 'code_run_ms'):.2f}**", "≤ 1"),
        ("file_search round (one query, one-file store), whole response p50",
         f"{med('search_response_ms'):.1f} ms", ""),
        ("… the same in a run p50", f"{med('search_run_ms'):.1f} ms → response ÷ run **"
         f"{ratio('search_response_ms', 'search_run_ms'):.2f}**", "≤ 1"),
        ("1-minute load average after the runs", f"{med('load1'):.1f}", ""),
    ]
    out = ["| measure | result (median) | goal |", "|---|---|---|"]
    return "\n".join(out + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def main() -> None:
    bench_main("responses_tools", "Built-in tools in responses beside runs (scripted model)",
               one_run, table)


if __name__ == "__main__":
    main()
