"""Scripted-run throughput and API latency: one replica on SQLite, one on PostgreSQL, two on
PostgreSQL.

Run: .venv/bin/python scripts/bench/cluster.py [--runs 3] [--write docs/benchmarks.md]

Each run of the benchmark starts, for each setup, fresh `airlock serve --model scripted`
replicas (a fresh PostgreSQL database on one throwaway server, scripts/cluster/pg.sh; a shared
--files-dir). RUNS scripted runs ("ok", one global reply each) are created by CLIENTS concurrent
HTTP clients, spread over the replicas, each client polling its run to the end (GET every
POLL_S) before creating the next. Throughput is runs finished per second of wall time; latency
is of every API request made meanwhile (the creates, and the GETs that poll), p50 and p99.
The 2-replica setup's ratio to 1 replica is taken within each run, so both saw the same machine.

Idle cost: after its load, the 1-replica PostgreSQL setup's replica is left alone for SETTLE_S,
then the transactions its database counts (pg_stat_database: xact_commit + xact_rollback, read
from another database so the reads do not count) over IDLE_S give transactions per second of an
idle replica (its workers started: it has just run RUNS runs).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _report import bench_main, summary  # noqa: E402
from _server import airlock_server, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNS, CLIENTS, POLL_S = 300, 16, 0.02
SETTLE_S, IDLE_S = 10.0, 40.0
HEADERS = {"Authorization": "Bearer x", "OpenAI-Beta": "assistants=v2"}
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


class Postgres:
    """One throwaway PostgreSQL server for the whole benchmark; a new database per setup."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="airlock-bench-pg-"))
        self.dir.chmod(0o755)
        self.port = free_port()
        subprocess.run(["bash", str(ROOT / "scripts/cluster/pg.sh"), "start", str(self.dir),
                        str(self.port)], check=True, capture_output=True)

    def new_database(self) -> str:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://airlock@127.0.0.1:{self.port}/{name}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://airlock@127.0.0.1:{self.port}/postgres"

    def transactions(self, database_url: str) -> float:
        """Transactions committed or rolled back in that database so far."""
        import psycopg

        name = database_url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                               "WHERE datname = %s", (name,)).fetchone()
        assert row is not None
        return float(row[0])

    def stop(self) -> None:
        subprocess.run(["bash", str(ROOT / "scripts/cluster/pg.sh"), "stop", str(self.dir)],
                       check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def load(bases: list[str]) -> dict[str, float]:
    """RUNS runs through `bases` (round robin); throughput and request latencies."""
    with httpx.Client(headers=HEADERS, timeout=60) as http:
        asst = http.post(f"{bases[0]}/v1/assistants", json={"model": "scripted"}).json()["id"]
        r = http.post(f"{bases[0]}/airlock/v1/scripted/replies",
                      json={"replies": [{"text": "ok"}] * RUNS})
        assert r.status_code == 200, r.text
    creates: list[float] = []
    gets: list[float] = []
    statuses: list[str] = []

    def one(i: int, http: httpx.Client) -> None:
        base = bases[i % len(bases)]
        t = time.perf_counter()
        run = http.post(f"{base}/v1/threads/runs", json={
            "assistant_id": asst,
            "thread": {"messages": [{"role": "user", "content": f"run {i}"}]}}).json()
        creates.append(time.perf_counter() - t)
        while True:
            time.sleep(POLL_S)  # the poll interval of a client waiting for its run
            t = time.perf_counter()
            got = http.get(f"{base}/v1/threads/{run['thread_id']}/runs/{run['id']}").json()
            gets.append(time.perf_counter() - t)
            if got["status"] in TERMINAL:
                statuses.append(got["status"])
                return

    def client(k: int) -> None:
        with httpx.Client(headers=HEADERS, timeout=60) as http:
            for i in range(k, RUNS, CLIENTS):
                one(i, http)

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    assert statuses.count("completed") == RUNS, {s: statuses.count(s) for s in set(statuses)}
    api = creates + gets
    return {"runs_s": RUNS / elapsed, "p50_ms": pct(api, 0.5) * 1000,
            "p99_ms": pct(api, 0.99) * 1000, "create_p50_ms": pct(creates, 0.5) * 1000}


def setup(pg: Postgres | None, replicas: int, idle: bool = False) -> dict[str, float]:
    with ExitStack() as stack:
        files_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="airlock-bench-files-"))
        extra = ["--model", "scripted"]
        url = ""
        if pg is not None:
            url = pg.new_database()
            extra += ["--database-url", url, "--files-dir", files_dir]
        bases = [stack.enter_context(airlock_server(*extra))[0] for _ in range(replicas)]
        out = load(bases)
        if idle and pg is not None:
            time.sleep(SETTLE_S)  # the load's last writes and stats flushes settle
            before, started = pg.transactions(url), time.monotonic()
            time.sleep(IDLE_S)  # the idle window measured
            out["idle_xact_s"] = (pg.transactions(url) - before) / (time.monotonic() - started)
        return out


PG: Postgres | None = None


def one_run() -> dict[str, float]:
    global PG
    if PG is None:
        PG = Postgres()
    out: dict[str, float] = {}
    for key, pg, n in (("sqlite1", None, 1), ("pg1", PG, 1), ("pg2", PG, 2)):
        for k, v in setup(pg, n, idle=key == "pg1").items():
            out[f"{key}_{k}"] = v
    return out


def table(results: list[dict[str, float]]) -> str:
    med, ratio = summary(results)
    rows = [("1 replica, SQLite", "sqlite1"), ("1 replica, PostgreSQL", "pg1"),
            ("2 replicas, PostgreSQL", "pg2")]
    lines = [f"{RUNS} scripted runs, {CLIENTS} concurrent clients each polling its run every "
             f"{POLL_S * 1000:.0f} ms; latency of every API request (creates and polls).", "",
             "| setup | runs/s | API p50 ms | API p99 ms | create p50 ms | idle transactions/s |",
             "|---|---|---|---|---|---|"]
    for label, key in rows:
        idle_s = f"{med(key + '_idle_xact_s'):.1f}" if key + "_idle_xact_s" in results[0] else "—"
        lines.append(f"| {label} | {med(key + '_runs_s'):.1f} | {med(key + '_p50_ms'):.1f} | "
                     f"{med(key + '_p99_ms'):.1f} | {med(key + '_create_p50_ms'):.1f} | "
                     f"{idle_s} |")
    idle = ", ".join(f"{r['pg1_idle_xact_s']:.1f}" for r in results)
    lines += ["", f"2 replicas ÷ 1 replica on PostgreSQL, runs/s: "
              f"{ratio('pg2_runs_s', 'pg1_runs_s'):.2f}× (goal ≥ 1.6×); PostgreSQL ÷ SQLite "
              f"for one replica, runs/s: {ratio('pg1_runs_s', 'sqlite1_runs_s'):.2f}× "
              f"(goal ≥ 0.6×); an idle replica on PostgreSQL: {med('pg1_idle_xact_s'):.1f} "
              f"transactions/s (goal ≤ 5; per run: {idle})"]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        bench_main("cluster", "Replicas on PostgreSQL: scripted-run throughput and API latency",
                   one_run, table)
    finally:
        if PG is not None:
            PG.stop()
