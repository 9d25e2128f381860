"""Decode speed and cancel latency while other processes hold the cores.

Run: .venv/bin/python scripts/bench/contention_decode.py [--runs 3] [--write docs/benchmarks.md]
     [--models smollm2,qwen] [--busy 0,1,2]

For each model (the embedded SmolLM2-135M, and Qwen2.5-Coder-0.5B from
scripts/fetch_test_model.py) and each load (0, 1 and 2 busy processes: each spins one core in
pure Python, at normal priority, and ends on its own after a bounded time), one round measures,
in an interleaved order so that every side sees the same machine:

- raw llama-cpp-python, streaming greedy decode of the same prompt, in one persistent process
  per configuration: 1 thread; 2 threads with libgomp's default wait policy (airlock's), with
  OMP_WAIT_POLICY=PASSIVE, and with OMP_WAIT_POLICY=ACTIVE. The wait policy is per process
  (libgomp reads it once), hence one process each. After each decode a worker ends its idle
  OpenMP threads, so that none spins (ACTIVE: for minutes) while the others are measured.
- airlock: a real `airlock serve --model <gguf>` with its defaults (threads "auto"), a streamed
  run with the same prompt and max tokens, greedy (temperature 0): tokens per second between the
  first and the last `thread.message.delta` read off the socket.
- cancel: a streamed run is cancelled after its first deltas; the time from sending the cancel
  to the stream's `thread.run.cancelled` event.

Reported: each configuration's median tokens/s, airlock ÷ the best raw configuration of that
rotation (median over the rotations and rounds), and cancel p50/p95 over every cancel of the load.

`--sweep-spin 100,300,...` measures raw configurations only, 2 threads at each GOMP_SPINCOUNT
(plus 1 thread and PASSIVE): how airlock's wait policy was chosen (airlock.cpu), on runs kept
apart from the ones reported (docs/benchmarks.md has both).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _report import write_section  # noqa: E402
from _server import airlock_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
INSTRUCTIONS = "You are a storyteller."
STORY = "Write a long story about a dragon who learns to bake bread."
MAX_TOKENS = 96
# Within a round, every configuration decodes once per rotation, ROTATIONS times, so that a burst
# of other work on the machine falls on all of them alike; medians are kept.
ROTATIONS = 4
CANCELS = 4  # per load per round
BUSY_S = 1800  # a busy process ends on its own after this long, whatever happens here
HEADERS = {"Authorization": "Bearer x", "OpenAI-Beta": "assistants=v2"}


RAW = {  # name: (threads, environment)
    "1 thread": (1, {}),
    "2 threads": (2, {}),  # libgomp's default wait policy: spin ~300,000 times, then sleep
    "2 threads, PASSIVE": (2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "2 threads, ACTIVE": (2, {"OMP_WAIT_POLICY": "ACTIVE"}),
}


def worker(path: str, threads: int) -> None:
    """One raw configuration: reads a line per request, answers its decode rate."""
    import llama_cpp

    llm = llama_cpp.Llama(path, n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                          verbose=False)
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    eos = llm._model.token_get_text(llm._model.token_eos())
    prompt = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token="",
                                 add_generation_prompt=True)(messages=[
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": STORY}]).prompt
    # Between its decodes a worker must not load the machine for the others: with ACTIVE its
    # idle OpenMP thread would spin for minutes (an early version of this benchmark measured
    # every other configuration beside it), so every worker ends its idle threads after a decode.
    gomp = ctypes.CDLL("libgomp.so.1")
    print("ready", flush=True)
    for _ in sys.stdin:
        t = []
        for _ in llm.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0,
                                       stream=True):
            t.append(time.perf_counter())
        gomp.omp_pause_resource_all(1)
        print(json.dumps((len(t) - 1) / (t[-1] - t[0])), flush=True)


class Raw:
    def __init__(self, path: str, threads: int, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", path, str(threads)],
            env={**{k: v for k, v in os.environ.items()
                    if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")},
                 **env},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def rate(self) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@contextmanager
def busy(n: int):
    code = f"import time\nend = time.monotonic() + {BUSY_S}\nwhile time.monotonic() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


class Airlock:
    def __init__(self, base: str):
        self.http = httpx.Client(base_url=f"{base}/v1", headers=HEADERS, timeout=600)
        self.assistant = self.http.post("/assistants", json={
            "model": "default", "instructions": INSTRUCTIONS, "temperature": 0.0}).json()["id"]

    def _stream(self, max_tokens: int, cancel_after: int | None = None) -> dict:
        thread = self.http.post("/threads", json={
            "messages": [{"role": "user", "content": STORY}]}).json()["id"]
        arrived: list[float] = []
        run_id = sent = usage = None
        event = ""
        with self.http.stream("POST", f"/threads/{thread}/runs", json={
                "assistant_id": self.assistant, "max_completion_tokens": max_tokens,
                "stream": True}) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                elif event == "thread.run.created":
                    run_id = json.loads(line[6:])["id"]
                elif event == "thread.message.delta":
                    arrived.append(time.perf_counter())
                    if cancel_after is not None and len(arrived) == cancel_after:
                        sent = time.perf_counter()
                        self.http.post(f"/threads/{thread}/runs/{run_id}/cancel")
                elif event == "thread.run.cancelled" and sent is not None:
                    return {"cancel_s": time.perf_counter() - sent}
                elif event in ("thread.run.completed", "thread.run.incomplete"):
                    usage = json.loads(line[6:])["usage"]
        if cancel_after is not None or usage is None:
            raise RuntimeError(f"the run ended with {event}")
        return {"tps": (usage["completion_tokens"] - 1) / (arrived[-1] - arrived[0])}

    def rate(self) -> float:
        return self._stream(MAX_TOKENS)["tps"]

    def cancel(self) -> float:
        return self._stream(1024, cancel_after=5)["cancel_s"]


def model_paths(names: list[str]) -> dict[str, str]:
    paths = {}
    for name in names:
        if name == "smollm2":
            sys.path.insert(0, str(ROOT))
            from airlock.models.registry import embedded_gguf

            paths["SmolLM2-135M"] = str(embedded_gguf())
        elif name == "qwen":
            out = subprocess.run([sys.executable, str(ROOT / "scripts/fetch_test_model.py")],
                                 check=True, capture_output=True, text=True)
            paths["Qwen2.5-Coder-0.5B"] = out.stdout.strip().splitlines()[-1]
        else:
            raise SystemExit(f"unknown model {name}")
    return paths


def loadavg() -> float:
    return os.getloadavg()[0]


def measure(path: str, loads: list[int], runs: int, raw: dict[str, tuple[int, dict[str, str]]],
            with_airlock: bool = True) -> dict[int, list[dict]]:
    """Per load, one dict per round: each configuration's rate, airlock's, its cancels."""
    out: dict[int, list[dict]] = {n: [] for n in loads}
    with ExitStack() as stack:
        raws = {name: Raw(path, t, env) for name, (t, env) in raw.items()}
        for r in raws.values():
            stack.callback(r.close)
        ours = None
        if with_airlock:
            base, _ = stack.enter_context(airlock_server("--model", path))
            ours = Airlock(base)
            ours.rate()  # warm-up: first evaluation, the tuner's first trials
        for r in raws.values():
            r.rate()
        for _round in range(runs):
            for n in loads:
                with busy(n):
                    row: dict = {"load_before": loadavg()}
                    names = list(raws) + (["airlock"] if ours else [])
                    rotations = []
                    for j in range(ROTATIONS):
                        # Rotate who goes first, so no side always follows the same neighbour.
                        k = (_round + j) % len(names)
                        rotations.append({name: ours.rate() if ours and name == "airlock"
                                          else raws[name].rate()
                                          for name in names[k:] + names[:k]})
                    for name in names:
                        row[name] = statistics.median(r[name] for r in rotations)
                    if ours:
                        row["ratio"] = statistics.median(
                            r["airlock"] / max(r[k] for k in raws) for r in rotations)
                    if ours:
                        row["cancels"] = [ours.cancel() for _ in range(CANCELS)]
                    row["load_after"] = loadavg()
                out[n].append(row)
                print(f"{Path(path).name} busy={n}: " + ", ".join(
                    f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in row.items()), file=sys.stderr, flush=True)
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def table(results: dict[str, dict[int, list[dict]]]) -> str:
    names = list(RAW)
    lines = ["| model | busy processes | " + " | ".join(names)
             + " | airlock | airlock ÷ best raw | cancel p50 / p95 | load avg |",
             "|---|---|" + "---|" * (len(names) + 4)]
    for model, by_load in results.items():
        for n, rows in by_load.items():
            med = {k: statistics.median(r[k] for r in rows) for k in names + ["airlock"]}
            ratio = statistics.median(r["ratio"] for r in rows)
            cancels = [c for r in rows for c in r["cancels"]]
            load = statistics.median(r["load_before"] for r in rows)
            lines.append(
                f"| {model} | {n} | " + " | ".join(f"{med[k]:.1f}" for k in names)
                + f" | {med['airlock']:.1f} | **{ratio:.2f}** | "
                f"{pct(cancels, 0.5) * 1000:.0f} / {pct(cancels, 0.95) * 1000:.0f} ms | "
                f"{load:.1f} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", default="smollm2,qwen")
    ap.add_argument("--busy", default="0,1,2")
    ap.add_argument("--write")
    ap.add_argument("--sweep-spin", help="comma-separated GOMP_SPINCOUNT values (raw only)")
    args = ap.parse_args()
    loads = [int(x) for x in args.busy.split(",")]
    paths = model_paths(args.models.split(","))
    if args.sweep_spin:
        raw = {"1 thread": (1, {}), "2 threads, PASSIVE": (2, {"OMP_WAIT_POLICY": "PASSIVE"})}
        raw.update({f"2 threads, spin {v}": (2, {"GOMP_SPINCOUNT": v})
                    for v in args.sweep_spin.split(",")})
        for model, path in paths.items():
            by_load = measure(path, loads, args.runs, raw, with_airlock=False)
            print(f"\n{model}\n| busy | " + " | ".join(raw) + " |")
            for n, rows in by_load.items():
                print(f"| {n} | " + " | ".join(
                    f"{statistics.median(r[k] for r in rows):.1f}" for k in raw) + " |")
        return
    results = {model: measure(path, loads, args.runs, RAW)
               for model, path in paths.items()}
    text = (f"Decode tokens/s, {MAX_TOKENS} tokens per decode, greedy; each round measures every "
            f"configuration {ROTATIONS} times in rotation (medians). airlock ÷ best raw: the "
            "median of each rotation's ratio to that rotation's fastest raw configuration. Load "
            "avg: the 1-minute load average when the load's measurements began.\n\n"
            + table(results))
    print(text)
    if args.write:
        write_section(Path(args.write), "contention_decode", "Decode under CPU contention",
                      text, args.runs, "python scripts/bench/contention_decode.py "
                      + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
