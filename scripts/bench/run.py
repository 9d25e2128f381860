"""Run engine: decode speed against raw llama-cpp-python, server overhead, KV reuse, fairness.

Run: .venv/bin/python scripts/bench/run.py [--runs 3] [--write docs/benchmarks.md]

Everything happens in one process: the airlock app served by uvicorn on loopback (driven over
real HTTP) and a raw `llama_cpp.Llama` on the same GGUF, measured alternately so both see the
same machine noise. Event times come from the engine's event hub, model time and decode times
from wrapping the backend's calls, arrival times from reading the SSE stream off the socket.

The raw baseline is llama-cpp-python at its best thread count of the moment: each raw
measurement decodes at 1 and at 2 threads (all cores) and keeps the faster. Both run with
libgomp's default wait policy, as `airlock serve` does; scripts/bench/contention_decode.py
compares the wait policies themselves, one process each.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import llama_cpp
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from _report import bench_main, summary  # noqa: E402
from _server import free_port  # noqa: E402

from airlock.cpu import available_cores  # noqa: E402
from airlock.models.registry import Registry  # noqa: E402
from airlock.server.app import create_app  # noqa: E402
from airlock.service import Services  # noqa: E402
from airlock.settings import Settings  # noqa: E402

STORY = "Write a long story about a dragon who learns to bake bread."
MAX_TOKENS = 128
TURN_TOKENS = 150
HEADERS = {"OpenAI-Beta": "assistants=v2"}


class Timed:
    """Wraps a backend, adding up the seconds spent inside it."""

    def __init__(self, backend):
        self.backend, self.seconds = backend, 0.0
        self.name, self.n_ctx = backend.name, backend.n_ctx

    def count_tokens(self, messages, *args):
        t0 = time.perf_counter()
        try:
            return self.backend.count_tokens(messages, *args)
        finally:
            self.seconds += time.perf_counter() - t0

    def generate(self, request, on_text, should_stop):
        self.decoded = []  # when each piece left the model, to pair with its arrival

        def stamped(piece):
            self.decoded.append(time.perf_counter())
            on_text(piece)

        t0 = time.perf_counter()
        try:
            return self.backend.generate(request, stamped, should_stop)
        finally:
            self.seconds += time.perf_counter() - t0

    def close(self):
        self.backend.close()


class Bench:
    def __init__(self, data_dir: str):
        self.registry = Registry.load(None, None)
        services = Services(Settings(data_dir=Path(data_dir), log_level="warning"), self.registry)
        self.app = create_app(services)
        self.hub = services.ctx.background.hub
        name = self.registry.default
        self.backend = self.registry.backend(name)
        self.timed = Timed(self.backend)
        self.registry._backends[name] = self.timed  # measure what the engine spends in the model
        # A real server on loopback, in this process, so decode and arrival share one clock.
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.server_thread = threading.Thread(target=self.server.run, daemon=True)
        # The same file and context size; thread counts are set per measurement (raw_run).
        self.raw = llama_cpp.Llama(str(self.backend.path), n_ctx=self.backend.n_ctx,
                                   n_threads=available_cores(), verbose=False)

    async def post(self, path: str, body: dict) -> dict:
        r = await self.client.post(path, json=body)
        r.raise_for_status()
        return r.json()

    async def start(self) -> None:
        self.server_thread.start()
        while not self.server.started:
            await asyncio.sleep(0.05)
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}/v1",
                                        headers=HEADERS, timeout=600)
        self.events = self.hub.subscribe("*")
        self.assistant = (await self.post("/assistants", {
            "model": "gpt-4o", "instructions": "You are a storyteller.", "temperature": 0.0}))["id"]

    async def run_and_time(self, thread_id: str, max_tokens: int) -> dict:
        """Creates a run and follows its events: times to first token, last token, completion."""
        model_before = self.timed.seconds
        t0 = time.perf_counter()
        run = await self.post(f"/threads/{thread_id}/runs",
                              {"assistant_id": self.assistant, "max_completion_tokens": max_tokens})
        first = last = None
        while True:
            name, data = await self.events.get()
            if data.get("id") != run["id"] and name != "thread.message.delta":
                continue
            now = time.perf_counter()
            if name == "thread.message.delta":
                first = first or now
                last = now
            elif name.startswith("thread.run.") and name.split(".")[-1] in (
                    "completed", "incomplete", "failed", "cancelled", "expired"):
                break
        usage = data["usage"]
        return {"wall": now - t0, "ttft": first - t0, "decode": last - first,
                "tokens": usage["completion_tokens"], "model": self.timed.seconds - model_before,
                "status": data["status"]}

    def raw_run(self, messages: list[dict]) -> dict:
        """The faster of a decode at 1 thread and one at every core."""
        runs = []
        for n in sorted({1, available_cores()}):
            llama_cpp.llama_set_n_threads(self.raw.ctx, n, n)
            runs.append(self._raw_once(messages))
        return max(runs, key=lambda r: (r["tokens"] - 1) / r["decode"])

    def _raw_once(self, messages: list[dict]) -> dict:
        prompt = self.backend.render(messages)
        t0 = time.perf_counter()
        first = last = None
        n = 0
        for _ in self.raw.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0,
                                            stream=True):
            now = time.perf_counter()
            first = first or now
            last = now
            n += 1
        return {"ttft": first - t0, "decode": last - first, "tokens": n}

    async def decode_pair(self) -> tuple[float, float, float]:
        thread = await self.post("/threads", {"messages": [{"role": "user", "content": STORY}]})
        ours = await self.run_and_time(thread["id"], MAX_TOKENS)
        raw = self.raw_run([{"role": "system", "content": "You are a storyteller."},
                            {"role": "user", "content": STORY}])
        ours_tps = (ours["tokens"] - 1) / ours["decode"]
        raw_tps = (raw["tokens"] - 1) / raw["decode"]
        return ours_tps, raw_tps, ours["wall"] - ours["model"]

    async def turns(self, threads: int = 2) -> tuple[float, float]:
        """Median TTFT of turn 1 and of turn 10 over `threads` ten-turn threads."""
        first, tenth = [], []
        for _ in range(threads):
            thread = await self.post("/threads", {})
            for i in range(10):
                await self.post(f"/threads/{thread['id']}/messages",
                                {"role": "user", "content": f"Continue the story, part {i + 1}."})
                ttft = (await self.run_and_time(thread["id"], TURN_TOKENS))["ttft"]
                if i == 0:
                    first.append(ttft)
                elif i == 9:
                    tenth.append(ttft)
        return statistics.median(first), statistics.median(tenth)

    async def burst(self, n: int = 8) -> tuple[float, float, int]:
        threads = [await self.post("/threads", {"messages": [{"role": "user", "content": STORY}]})
                   for _ in range(n)]
        model_before = self.timed.seconds
        t0 = time.perf_counter()
        results = await asyncio.gather(*(self.run_and_time_shared(t["id"]) for t in threads))
        wall = time.perf_counter() - t0
        return wall, self.timed.seconds - model_before, sum(r == "completed" or r == "incomplete"
                                                            for r in results)

    async def run_and_time_shared(self, thread_id: str) -> str:
        run = await self.post(f"/threads/{thread_id}/runs",
                              {"assistant_id": self.assistant, "max_completion_tokens": 64})
        while True:
            r = await self.client.get(f"/threads/{thread_id}/runs/{run['id']}")
            status = r.json()["status"]
            if status not in ("queued", "in_progress", "cancelling"):
                return status
            await asyncio.sleep(0.05)

    async def streamed(self) -> tuple[float, float, list[float]]:
        """A streamed run read off the socket: (tokens/s as received, raw tokens/s, latencies)."""
        thread = await self.post("/threads", {"messages": [{"role": "user", "content": STORY}]})
        arrived = []
        async with self.client.stream("POST", f"/threads/{thread['id']}/runs", json={
                "assistant_id": self.assistant, "max_completion_tokens": MAX_TOKENS,
                "stream": True}) as response:
            delta = False
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    delta = line == "event: thread.message.delta"
                elif delta and line.startswith("data: "):
                    arrived.append(time.perf_counter())
        decoded = self.timed.decoded
        assert len(decoded) == len(arrived), (len(decoded), len(arrived))
        raw = self.raw_run([{"role": "system", "content": "You are a storyteller."},
                            {"role": "user", "content": STORY}])
        ours = (len(arrived) - 1) / (arrived[-1] - arrived[0])
        lags = [a - d for a, d in zip(arrived, decoded, strict=False)]
        return ours, (raw["tokens"] - 1) / raw["decode"], lags

    async def close(self):
        await self.client.aclose()
        self.server.should_exit = True
        await asyncio.to_thread(self.server_thread.join)


async def one_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-run-") as d:
        b = Bench(d)
        await b.start()
        try:
            await b.decode_pair()  # warm-up: first evaluation, allocations
            pairs = [await b.decode_pair() for _ in range(3)]
            t1, t10 = await b.turns()
            wall, model, done = await b.burst()
            streams = [await b.streamed() for _ in range(3)]
        finally:
            await b.close()
        latencies = sorted(x for s in streams for x in s[2])
    return {
        "ours_tps": statistics.median(p[0] for p in pairs),
        "raw_tps": statistics.median(p[1] for p in pairs),
        "overhead_ms": statistics.median(p[2] for p in pairs) * 1000,
        "ttft1_ms": t1 * 1000, "ttft10_ms": t10 * 1000,
        "burst_wall": wall, "burst_model": model, "burst_done": done,
        "stream_tps": statistics.median(s[0] for s in streams),
        "stream_raw_tps": statistics.median(s[1] for s in streams),
        "socket_p50_ms": latencies[len(latencies) // 2] * 1000,
        "socket_p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def table(results: list[dict[str, float]]) -> str:
    med, ratio = summary(results)
    rows = [
        ("decode tokens/s: run ÷ raw llama-cpp-python (best thread count)", f"{med('ours_tps'):.1f} vs "
         f"{med('raw_tps'):.1f} → **{ratio('ours_tps', 'raw_tps'):.2f}**", "≥ 0.95"),
        ("server overhead per run, outside model time", f"{med('overhead_ms'):.1f} ms", "≤ 20 ms"),
        ("TTFT turn 10 ÷ turn 1 (one thread, ~150-token turns)",
         f"{med('ttft10_ms'):.0f} vs {med('ttft1_ms'):.0f} ms → **{ratio('ttft10_ms', 'ttft1_ms'):.2f}**",
         "≤ 1.5"),
        ("8 runs on 8 threads at once: completed", f"{med('burst_done'):.0f} / 8", "8 / 8"),
        ("8 runs: wall ÷ sum of model times", f"{med('burst_wall'):.2f} s vs "
         f"{med('burst_model'):.2f} s → **{ratio('burst_wall', 'burst_model'):.2f}**", "≈ 1"),
        ("streamed tokens/s (read off the socket) ÷ raw llama-cpp-python (best thread count)",
         f"{med('stream_tps'):.1f} vs {med('stream_raw_tps'):.1f} → "
         f"**{ratio('stream_tps', 'stream_raw_tps'):.2f}**", "≥ 0.95"),
        ("a token's decode → its SSE bytes read by the client, p50 / p99",
         f"{med('socket_p50_ms'):.2f} / {med('socket_p99_ms'):.2f} ms", ""),
        ("peak RSS (bench process, incl. a 2nd model copy for the raw baseline)",
         f"{med('peak_rss_mb'):.0f} MiB", ""),
    ]
    out = ["| measure | result (median) | goal |", "|---|---|---|"]
    return "\n".join(out + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def main() -> None:
    bench_main("run", "Run engine on SmolLM2-135M-Instruct Q4_1", lambda: asyncio.run(one_run()),
               table)


if __name__ == "__main__":
    main()
