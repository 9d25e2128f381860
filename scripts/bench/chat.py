"""Chat Completions: streamed decode against raw llama-cpp-python, and the server's overhead.

Run: .venv/bin/python scripts/bench/chat.py [--runs 3] [--write docs/benchmarks.md]

As scripts/bench/run.py: the airlock app served by uvicorn on loopback in this process (driven
over real HTTP with the chat endpoint) and a raw `llama_cpp.Llama` on the same GGUF, measured
alternately so both see the same machine noise. The raw baseline is llama-cpp-python's own
`create_chat_completion` streaming at its best thread count of the moment (1 thread or all
cores, whichever is faster in that measurement). Overhead per request: a short non-streamed
request's wall time minus the time spent inside the model backend.

Then the served comparison (the goal's): `airlock serve` in a process of its own, four pairs in
alternating order against raw streaming, with the in-process app and its model closed first:
beside them, raw decoded at about half its speed alone, which flattered every ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import llama_cpp

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402
from _report import bench_main, summary  # noqa: E402
from _server import airlock_server  # noqa: E402

from airlock.cpu import available_cores  # noqa: E402

MESSAGES = [{"role": "system", "content": "You are a storyteller."},
            {"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]
MAX_TOKENS = 128
SHORT = [{"role": "user", "content": "Say hello."}]


class Bench(run.Bench):
    """run.Bench's app, timed backend and raw model; the chat endpoint instead of runs."""

    async def start(self) -> None:
        self.server_thread.start()
        while not self.server.started:
            await asyncio.sleep(0.05)
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}/v1", timeout=600)

    async def streamed(self, client: httpx.AsyncClient | None = None) -> float:
        """Tokens/s of a streamed chat completion, as its chunks arrive on the socket."""
        arrived = []
        async with (client or self.client).stream("POST", "/chat/completions", json={
                "model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": MAX_TOKENS,
                "temperature": 0, "stream": True}) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"content":"' in line \
                        and '"content":""' not in line:
                    arrived.append(time.perf_counter())
        return (len(arrived) - 1) / (arrived[-1] - arrived[0])

    def raw_streamed(self) -> float:
        return raw_streamed(self.raw)

    async def overhead_ms(self, n: int = 10) -> float:
        """Median wall time outside the model of a short non-streamed request."""
        out = []
        for _ in range(n):
            before = self.timed.seconds
            t0 = time.perf_counter()
            r = await self.client.post("/chat/completions", json={
                "model": "gpt-4o-mini", "messages": SHORT, "max_tokens": 8, "temperature": 0})
            r.raise_for_status()
            out.append((time.perf_counter() - t0) - (self.timed.seconds - before))
        return statistics.median(out) * 1000


async def one_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-chat-") as d:
        b = Bench(d)
        await b.start()
        try:
            await b.streamed()  # warm-up
            pairs = []
            for _ in range(3):
                pairs.append((await b.streamed(), b.raw_streamed()))
            overhead = await b.overhead_ms()
        finally:
            await close_all(b)
        # The same stream from `airlock serve` in a process of its own, as apps reach it: in
        # this process the client's reading and the event loop share the GIL with the decode.
        served = await served_pairs(b.streamed, b.backend)
    return {"ours_tps": statistics.median(p[0] for p in pairs),
            "raw_tps": statistics.median(p[1] for p in pairs),
            "served_tps": statistics.median(p[0] for p in served),
            "served_raw_tps": statistics.median(p[1] for p in served),
            "overhead_ms": overhead, "load1": _load()}


async def close_all(b: run.Bench) -> None:
    """The in-process app, its model and the raw model go before a served comparison: a raw
    decode beside them in this process measured at about half its speed alone."""
    await b.close()
    b.registry.close()
    b.raw.close()


async def served_pairs(stream: Callable[[httpx.AsyncClient], Awaitable[float]], backend: Any,
                       n: int = 4) -> list[tuple[float, float]]:
    """(`stream(client)` tokens/s on `airlock serve` in its own process, raw llama-cpp-python's
    at its best thread count) `n` times, in alternating order; the raw model is the only one
    loaded in this process."""
    raw = llama_cpp.Llama(str(backend.path), n_ctx=backend.n_ctx, n_threads=available_cores(),
                          verbose=False)
    out = []
    try:
        with airlock_server() as (base, _):
            async with httpx.AsyncClient(base_url=f"{base}/v1", timeout=600) as client:
                await stream(client)  # warm-up
                for k in range(n):
                    if k % 2:
                        ours = await stream(client)
                        theirs = raw_streamed(raw)
                    else:
                        theirs = raw_streamed(raw)
                        ours = await stream(client)
                    out.append((ours, theirs))
    finally:
        raw.close()
    return out


def raw_streamed(raw: llama_cpp.Llama) -> float:
    """Raw llama-cpp-python's streamed decode at its best thread count of the moment."""
    runs = []
    for n in sorted({1, available_cores()}):
        llama_cpp.llama_set_n_threads(raw.ctx, n, n)
        stamps = [time.perf_counter() for chunk in raw.create_chat_completion(
            MESSAGES, max_tokens=MAX_TOKENS, temperature=0.0, stream=True)
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content")]
        runs.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return max(runs)


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def table(results: list[dict[str, float]]) -> str:
    med, ratio = summary(results)
    rows = [
        ("streamed chat decode tokens/s, `airlock serve` in its own process ÷ raw "
         "llama-cpp-python streaming (best thread count)",
         f"{med('served_tps'):.1f} vs {med('served_raw_tps'):.1f} → "
         f"**{ratio('served_tps', 'served_raw_tps'):.2f}**", "≥ 0.95"),
        ("the same, server and client in the benchmark's process",
         f"{med('ours_tps'):.1f} vs {med('raw_tps'):.1f} → **{ratio('ours_tps', 'raw_tps'):.2f}**",
         ""),
        ("overhead per request outside model time (8-token reply)",
         f"{med('overhead_ms'):.1f} ms", "≤ 10 ms"),
        ("1-minute load average during the runs", f"{med('load1'):.1f}", ""),
    ]
    out = ["| measure | result (median) | goal |", "|---|---|---|"]
    return "\n".join(out + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def main() -> None:
    bench_main("chat", "Chat Completions on SmolLM2-135M-Instruct Q4_1",
               lambda: asyncio.run(one_run()), table)


if __name__ == "__main__":
    main()
