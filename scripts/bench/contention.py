"""API latency while background threads write the database: the event loop must not wait on them.

Run: .venv/bin/python scripts/bench/contention.py [--runs 3] [--write docs/benchmarks.md]
from the root of the checkout to measure: the server imports `airlock` from the current directory
(`_server` drops PYTHONPATH), and the table names the package it imported.

Each run starts a fresh `airlock serve --model scripted`. Four HTTP clients (two retrieve a
thread, two add messages to another thread with no active run) are timed twice:
  - idle: nothing else happens, IDLE_REQUESTS requests per client;
  - under contention: for as long as one streamed run lasts. Meanwhile the run's worker writes its
    partial reply every 0.5 s, the ingestion worker embeds three ~300 KB text files into a vector
    store, and a thread of this process, on its own sqlite3 connection to the server's database,
    holds the write lock in a loop (BEGIN IMMEDIATE, one insert into a scratch table, HOLD_S,
    COMMIT, GAP_S free): a long background write, the way a worker holds the lock.
The run's SSE stream is read meanwhile: gaps between `thread.message.delta` events show a stalled
event loop (the worker's own 0.5 s write also waits for the lock, so some gaps are expected).
Medians over --runs runs are reported, since these machines are shared and noisy.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import _corpus  # noqa: E402
from _report import bench_main, summary  # noqa: E402
from _server import airlock_server  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the server inherits it: the embedder is local
HEADERS = {"Authorization": "Bearer x", "OpenAI-Beta": "assistants=v2"}
IDLE_REQUESTS = 150
FILES, FILE_CHARS = 3, 300_000
REPLY_WORDS, WORD_DELAY_MS = 1500, 5  # a stream of 7.5 s and more: the contention window
HOLD_S, GAP_S = 0.2, 0.1
STILL_S = 0.05  # an SSE gap longer than this counts as the stream standing still
served_from = ""  # where the server imported airlock from, for the table


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def served_code(data_dir: str) -> str:
    """The airlock package the server process imports: resolved from its own cwd and environment
    (`python -m airlock` puts its cwd first on sys.path), so a before/after cannot mix up trees."""
    for proc in Path("/proc").iterdir():
        try:
            if data_dir.encode() in (proc / "cmdline").read_bytes():
                cwd = os.readlink(proc / "cwd")
                env = dict(e.split("=", 1)
                           for e in (proc / "environ").read_text().split("\0") if "=" in e)
                break
        except OSError:
            continue
    else:
        raise RuntimeError("the server process was not found")
    found = subprocess.run([sys.executable, "-c", "import airlock; print(airlock.__path__[0])"],
                           cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return found.stdout.strip()


def drive(base: str, calls: list, more) -> list[tuple[list[float], list[str]]]:
    """Runs each call on its own client thread while `more(n_done)`; (latencies, failures) each."""
    out: list[tuple[list[float], list[str]]] = [([], []) for _ in calls]

    def client(i: int) -> None:
        latencies, failures = out[i]
        with httpx.Client(base_url=base, headers=HEADERS, timeout=60) as c:
            while more(len(latencies)):
                t0 = time.perf_counter()
                try:
                    r = calls[i](c)
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def hold_write_lock(db_path: str, stop: threading.Event, held: list[float]) -> None:
    db = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS bench_scratch (payload TEXT)")
    while not stop.is_set():
        db.execute("BEGIN IMMEDIATE")
        t0 = time.perf_counter()
        db.execute("INSERT INTO bench_scratch VALUES (?)", ("x" * 1000,))
        time.sleep(HOLD_S)  # the workload: a writer keeping the lock, not synchronisation
        db.execute("COMMIT")
        held.append(time.perf_counter() - t0)
        stop.wait(GAP_S)
    db.close()


def read_stream(base: str, thread_id: str, assistant_id: str, started: threading.Event,
                arrivals: list[float]) -> None:
    """Follows a streamed run to its end, noting when each message delta arrives."""
    body = {"assistant_id": assistant_id, "stream": True}
    try:
        with httpx.Client(base_url=base, headers=HEADERS, timeout=120) as c, \
                c.stream("POST", f"/v1/threads/{thread_id}/runs", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line == "event: thread.message.delta":
                    arrivals.append(time.perf_counter())
                    started.set()
    finally:
        started.set()  # a failed stream must not leave the clients waiting


def corpus_text(chars: int) -> str:
    return "\n".join(f"{v['book']} {v['chapter']}:{v['verse']} {v['text']}"
                     for v in _corpus.verses())[:chars]


def latency_stats(prefix: str, samples: list[tuple[list[float], list[str]]]) -> dict[str, float]:
    lat = [x for s, _ in samples for x in s]
    failures = [f for _, fs in samples for f in fs]
    for failure in sorted(set(failures)):  # the numbers alone would hide what failed
        print(f"{prefix}: {failures.count(failure)}x {failure}", file=sys.stderr)
    return {f"{prefix}_p50_ms": pct(lat, 0.5) * 1000, f"{prefix}_p99_ms": pct(lat, 0.99) * 1000,
            f"{prefix}_max_ms": max(lat) * 1000, f"{prefix}_n": float(len(lat)),
            f"{prefix}_errors": float(len(failures))}


def one_run() -> dict[str, float]:
    global served_from
    text = corpus_text(FILES * FILE_CHARS)
    with airlock_server("--model", "scripted") as (base, data_dir):
        served_from = served_code(data_dir)
        print(f"server imports airlock from {served_from}", file=sys.stderr)
        with httpx.Client(base_url=base, headers=HEADERS, timeout=60) as c:
            def post(path: str, **kw) -> dict:
                r = c.post(path, **kw)
                r.raise_for_status()
                return r.json()

            assistant = post("/v1/assistants", json={"model": "scripted"})["id"]
            read_id, write_id = (post("/v1/threads", json={})["id"] for _ in range(2))
            run_thread = post("/v1/threads", json={"messages": [
                {"role": "user", "content": "Read me the beginning."}]})["id"]
            file_ids = [post("/v1/files", data={"purpose": "assistants"}, files={"file": (
                f"kjv-{i}.txt", text[i * FILE_CHARS:(i + 1) * FILE_CHARS].encode())})["id"]
                for i in range(FILES)]

            message = {"role": "user", "content": "How do I get to the station from here?"}
            calls = ([lambda k: k.get(f"/v1/threads/{read_id}")] * 2
                     + [lambda k: k.post(f"/v1/threads/{write_id}/messages", json=message)] * 2)
            idle = drive(base, calls, lambda n: n < IDLE_REQUESTS)

            words = " ".join(text.split()[:REPLY_WORDS])
            post("/airlock/v1/scripted/replies",
                 json={"replies": [{"text": words, "delay_ms": WORD_DELAY_MS}]})
            store = post("/v1/vector_stores", json={"name": "bench", "file_ids": file_ids})["id"]
            stop, started, held, arrivals = threading.Event(), threading.Event(), [], []
            locker = threading.Thread(target=hold_write_lock,
                                      args=(str(Path(data_dir) / "airlock.sqlite3"), stop, held))
            stream = threading.Thread(target=read_stream,
                                      args=(base, run_thread, assistant, started, arrivals))
            locker.start()
            stream.start()
            started.wait()
            t0 = time.perf_counter()
            busy = drive(base, calls, lambda n: stream.is_alive())
            window = time.perf_counter() - t0
            stop.set()
            locker.join()
            counts = c.get(f"/v1/vector_stores/{store}").json()["file_counts"]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    return {
        **latency_stats("read_idle", idle[:2]), **latency_stats("write_idle", idle[2:]),
        **latency_stats("read_busy", busy[:2]), **latency_stats("write_busy", busy[2:]),
        "sse_deltas": float(len(arrivals)),
        "sse_gap_p99_ms": pct(gaps, 0.99) * 1000, "sse_gap_max_ms": max(gaps) * 1000,
        "sse_still_share": sum(g for g in gaps if g > STILL_S) / (arrivals[-1] - arrivals[0]),
        "window_s": window, "lock_share": sum(held) / window,
        "ingesting_at_end": float(counts["in_progress"]),
    }


def table(results: list[dict[str, float]]) -> str:
    med, ratio = summary(results)

    def row(kind: str, label: str) -> str:
        idle, busy = (" / ".join(f"{med(f'{kind}_{when}_{q}_ms'):.1f}"
                                 for q in ("p50", "p99", "max")) for when in ("idle", "busy"))
        slower = ratio(f"{kind}_busy_p99_ms", f"{kind}_idle_p99_ms")
        counts = " / ".join(f"{med(f'{kind}_{when}_n'):.0f} ({med(f'{kind}_{when}_errors'):.0f})"
                            for when in ("idle", "busy"))
        return f"| {label} | {idle} | {busy} | **{slower:.1f}×** | {counts} |"

    out = ["| call (2 clients each, 4 at once) | idle p50 / p99 / max ms | under contention "
           "p50 / p99 / max ms | p99 ÷ idle p99 | requests (errors) idle / contention |",
           "|---|---|---|---|---|",
           row("read", "`GET /v1/threads/{id}`"),
           row("write", "`POST /v1/threads/{id}/messages` (no active run)"),
           "",
           f"Streamed run under contention: {med('sse_deltas'):.0f} message deltas, gap between "
           f"deltas p99 {med('sse_gap_p99_ms'):.0f} ms, max {med('sse_gap_max_ms'):.0f} ms; the "
           f"stream stood still (gaps > {STILL_S * 1000:.0f} ms) {med('sse_still_share'):.0%} of "
           f"its time. Window {med('window_s'):.1f} s; the lock-holding thread held the write "
           f"lock {med('lock_share'):.0%} of it ({HOLD_S * 1000:.0f} ms holds, "
           f"{GAP_S * 1000:.0f} ms apart); {med('ingesting_at_end'):.0f} of {FILES} files were "
           f"still in ingestion at its end. Server code: `{served_from}`."]
    return "\n".join(out)


def main() -> None:
    bench_main("contention", "Contention: API latency while background threads write",
               one_run, table)


if __name__ == "__main__":
    main()
