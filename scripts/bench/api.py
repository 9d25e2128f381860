"""Message create/list throughput and latency over HTTP on a thread holding 10k messages.

Run: .venv/bin/python scripts/bench/api.py [--runs 3] [--write docs/benchmarks.md]

Each run starts a fresh server, seeds one thread with 10,000 messages, then drives it with
4 concurrent HTTP clients. Baselines measured in the same run put the numbers in context:
  - raw sqlite3: single-row INSERT + COMMIT with the server's pragmas (the storage floor);
  - HTTP floor: GET /health through the same server and clients (the web-stack ceiling).
Medians over --runs runs are reported, since these machines are shared and noisy.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _report import bench_main, summary  # noqa: E402
from _server import airlock_server  # noqa: E402

CLIENTS = 4
SEED = 10_000
CREATES_PER_CLIENT = 500
LISTS_PER_CLIENT = 250
HEADERS = {"Authorization": "Bearer x", "OpenAI-Beta": "assistants=v2"}


def run_clients(fn, per_client: int) -> tuple[float, list[float]]:
    """Runs `fn(client)` per_client times on each of CLIENTS threads; (wall seconds, latencies)."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)

    def worker(i: int, base: str) -> None:
        with httpx.Client(base_url=base, headers=HEADERS, timeout=60) as client:
            barrier.wait()
            for _ in range(per_client):
                t0 = time.perf_counter()
                fn(client)
                latencies[i].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(i, run_clients.base)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start, [x for lat in latencies for x in lat]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def raw_sqlite_inserts(n: int = 2000) -> float:
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(Path(d) / "raw.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE m (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, body TEXT)")
        body = json.dumps({"role": "user", "content": "hello"})
        t0 = time.perf_counter()
        for i in range(n):
            db.execute("BEGIN")
            db.execute("INSERT INTO m (id, body) VALUES (?, ?)", (f"msg_{i}", body))
            db.execute("COMMIT")
        return n / (time.perf_counter() - t0)


def one_run() -> dict[str, float]:
    with airlock_server() as (base, _):
        run_clients.base = base
        with httpx.Client(base_url=base, headers=HEADERS) as c:
            thread_id = c.post("/v1/threads", json={}).json()["id"]
        path = f"/v1/threads/{thread_id}/messages"
        body = {"role": "user", "content": "How do I get to the station from here?"}

        def create(client: httpx.Client) -> None:
            r = client.post(path, json=body)
            assert r.status_code == 200, r.text

        def list_page(client: httpx.Client) -> None:
            r = client.get(path, params={"limit": 20})
            assert r.status_code == 200 and len(r.json()["data"]) == 20, r.text

        def health(client: httpx.Client) -> None:
            client.get("/health")

        run_clients(create, SEED // CLIENTS)  # seed: the thread now holds 10k messages
        wall, create_lat = run_clients(create, CREATES_PER_CLIENT)
        _, list_lat = run_clients(list_page, LISTS_PER_CLIENT)
        hwall, health_lat = run_clients(health, LISTS_PER_CLIENT)
    return {
        "create_rps": CLIENTS * CREATES_PER_CLIENT / wall,
        "create_p50_ms": pct(create_lat, 0.5) * 1000,
        "create_p99_ms": pct(create_lat, 0.99) * 1000,
        "list_p50_ms": pct(list_lat, 0.5) * 1000,
        "list_p99_ms": pct(list_lat, 0.99) * 1000,
        "health_rps": CLIENTS * LISTS_PER_CLIENT / hwall,
        "health_p50_ms": pct(health_lat, 0.5) * 1000,
        "raw_sqlite_ips": raw_sqlite_inserts(),
    }


def table(results: list[dict[str, float]]) -> str:
    med, ratio = summary(results)
    rows = [
        ("message create throughput (4 clients)", f"{med('create_rps'):.0f} req/s", "≥ 500 req/s",
         f"{ratio('create_rps', 'health_rps'):.2f} of HTTP floor; "
         f"{ratio('create_rps', 'raw_sqlite_ips'):.3f} of raw sqlite3 inserts"),
        ("message create latency p50 / p99",
         f"{med('create_p50_ms'):.1f} / {med('create_p99_ms'):.1f} ms", "", ""),
        ("message list (limit 20) latency p50", f"{med('list_p50_ms'):.1f} ms", "≤ 5 ms",
         f"{ratio('list_p50_ms', 'health_p50_ms'):.2f}× HTTP floor p50"),
        ("message list latency p99", f"{med('list_p99_ms'):.1f} ms", "", ""),
        ("HTTP floor: GET /health (4 clients)",
         f"{med('health_rps'):.0f} req/s, p50 {med('health_p50_ms'):.1f} ms", "", "baseline"),
        ("raw sqlite3 INSERT+COMMIT (1 thread)", f"{med('raw_sqlite_ips'):.0f} rows/s", "",
         "baseline"),
    ]
    out = ["| measure | airlock (median) | goal | ratio to raw |", "|---|---|---|---|"]
    return "\n".join(out + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows])


def main() -> None:
    bench_main("api", "API: message create and list over HTTP", one_run, table)


if __name__ == "__main__":
    main()
