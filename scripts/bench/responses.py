"""Responses: streamed decode against raw llama-cpp-python, overhead beside the run path's, and
KV reuse along a previous_response_id chain.

Run: .venv/bin/python scripts/bench/responses.py [--runs 3] [--write docs/benchmarks.md]

The decode ratio is measured on `airlock serve` in a process of its own (as apps reach it),
reading `response.output_text.delta` events off the socket, against raw llama-cpp-python's
streaming at its best thread count (1 thread or all cores), four pairs per run in alternating
order; the raw model is the only one loaded in this process then.
The overheads are measured in this process (the app on loopback, the backend wrapped to add up
its time): a short response's wall time minus model time, beside a short run's (same prompt,
same 16-token cap, the smallest a run takes). The chain: two chains of ten streamed responses,
each turn asking to continue (~150 tokens), chained by previous_response_id; time to the first
text delta of turn 1 and of turn 10.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import chat  # noqa: E402
import run  # noqa: E402
from _report import bench_main, summary  # noqa: E402

STORY = "Write a long story about a dragon who learns to bake bread."
SHORT = "Say hello."
TURN_TOKENS = 150


class Bench(chat.Bench):
    # run.Bench's start (an assistant, the event hub) for the run path's overhead beside ours.
    start = run.Bench.start

    async def response_streamed(self, client: httpx.AsyncClient, **body) -> tuple[float, float]:
        """(seconds to the first text delta, tokens/s of the deltas as they arrive)."""
        arrived = []
        t0 = time.perf_counter()
        async with client.stream("POST", "/responses", json={
                "model": "gpt-4o-mini", "input": STORY, "instructions": "You are a storyteller.",
                "max_output_tokens": chat.MAX_TOKENS, "temperature": 0, "stream": True,
                **body}) as response:
            async for line in response.aiter_lines():
                if line == "event: response.output_text.delta":
                    arrived.append(time.perf_counter())
        tps = (len(arrived) - 1) / (arrived[-1] - arrived[0]) if len(arrived) > 1 else 0.0
        return arrived[0] - t0, tps

    async def response_overhead_ms(self, n: int = 10) -> float:
        out = []
        for _ in range(n):
            before = self.timed.seconds
            t0 = time.perf_counter()
            r = await self.client.post("/responses", json={
                "model": "gpt-4o-mini", "input": SHORT, "max_output_tokens": 16,
                "temperature": 0})
            r.raise_for_status()
            out.append((time.perf_counter() - t0) - (self.timed.seconds - before))
        return statistics.median(out) * 1000

    async def run_overhead_ms(self, n: int = 10) -> float:
        out = []
        for _ in range(n):
            thread = await self.post("/threads", {"messages": [{"role": "user",
                                                                "content": SHORT}]})
            timed = await self.run_and_time(thread["id"], 16)
            out.append(timed["wall"] - timed["model"])
        return statistics.median(out) * 1000


async def one_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-responses-") as d:
        b = Bench(d)
        await b.start()
        try:
            await b.response_streamed(b.client)  # warm-up
            resp_over = await b.response_overhead_ms()
            run_over = await b.run_overhead_ms()
            t1, t10 = await chain(b)
        finally:
            await chat.close_all(b)
        served = await chat.served_pairs(lambda c: streamed_tps(b, c), b.backend)
    return {"served_tps": statistics.median(p[0] for p in served),
            "served_raw_tps": statistics.median(p[1] for p in served),
            "response_overhead_ms": resp_over, "run_overhead_ms": run_over,
            "ttft1_ms": t1 * 1000, "ttft10_ms": t10 * 1000, "load1": chat._load()}


async def streamed_tps(b: Bench, client: httpx.AsyncClient) -> float:
    return (await b.response_streamed(client))[1]


async def chain(b: Bench, chains: int = 2) -> tuple[float, float]:
    """Median time to the first delta of turn 1 and of turn 10 over `chains` ten-turn chains."""
    first, tenth = [], []
    for _ in range(chains):
        previous = None
        for i in range(10):
            body: dict = {"model": "gpt-4o-mini", "input": f"Continue the story, part {i + 1}.",
                          "max_output_tokens": TURN_TOKENS, "temperature": 0, "stream": True}
            if i == 0:
                body["input"] = STORY
                body["instructions"] = "You are a storyteller."
            if previous:
                body["previous_response_id"] = previous
            t0 = time.perf_counter()
            ttft = None
            async with b.client.stream("POST", "/responses", json=body) as response:
                async for line in response.aiter_lines():
                    if ttft is None and line == "event: response.output_text.delta":
                        ttft = time.perf_counter() - t0
                    if line.startswith('data: {"type":"response.created"'):
                        previous = line.split('"id":"', 1)[1].split('"', 1)[0]
            if i == 0:
                first.append(ttft)
            elif i == 9:
                tenth.append(ttft)
    return statistics.median(first), statistics.median(tenth)


def table(results: list[dict[str, float]]) -> str:
    med, ratio = summary(results)
    rows = [
        ("streamed decode tokens/s, `airlock serve` in its own process ÷ raw llama-cpp-python "
         "streaming (best thread count)",
         f"{med('served_tps'):.1f} vs {med('served_raw_tps'):.1f} → "
         f"**{ratio('served_tps', 'served_raw_tps'):.2f}**", "≥ 0.95"),
        ("server overhead per response (16-token cap) beside a run's (same prompt and cap)",
         f"{med('response_overhead_ms'):.1f} ms vs {med('run_overhead_ms'):.1f} ms",
         "≤ the run's"),
        ("time to first token of a previous_response_id chain: turn 10 ÷ turn 1 (~150-token "
         "turns)", f"{med('ttft10_ms'):.0f} ms ÷ {med('ttft1_ms'):.0f} ms → "
         f"**{ratio('ttft10_ms', 'ttft1_ms'):.2f}**", "≤ 1.5"),
        ("1-minute load average during the runs", f"{med('load1'):.1f}", ""),
    ]
    out = ["| measure | result (median) | goal |", "|---|---|---|"]
    return "\n".join(out + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def main() -> None:
    bench_main("responses", "Responses on SmolLM2-135M-Instruct Q4_1",
               lambda: asyncio.run(one_run()), table)


if __name__ == "__main__":
    main()
