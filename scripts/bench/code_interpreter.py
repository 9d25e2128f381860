"""code_interpreter sandbox: execution latency, first use with and without the warm pool, memory.

Run: .venv/bin/python scripts/bench/code_interpreter.py [--runs 5] [--write docs/benchmarks.md]

Each run makes fresh pools under a temp dir. The baseline ("raw") is the same kernel, started and
driven by the same code, without bubblewrap (KernelPool(allow_unsandboxed=True) with bwrap
pointing nowhere), measured alternately with the jailed one so both see the same noise.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import bench_main, summary  # noqa: E402

from airlock.tools.code_interpreter import KernelPool, Limits  # noqa: E402

LATENCY_SAMPLES = 60
WARM_SAMPLES = 3
MANY = 10
MIB = 1024**2


def raw_pool(root: Path, limits: Limits) -> KernelPool:
    """A pool whose kernels run without the jail (bwrap points nowhere, unsandboxed allowed)."""
    pool = KernelPool(root, limits, allow_unsandboxed=True, bwrap="/nonexistent/bwrap")
    pool.available()
    return pool


def wait_warm(*pools: KernelPool, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while any(not p._warm for p in pools):  # noqa: SLF001 - a benchmark may peek
        if time.monotonic() > end:
            raise RuntimeError("the pool did not warm up")
        time.sleep(0.02)


def timed(pool: KernelPool, thread: str, code: str = "1+1") -> float:
    t0 = time.perf_counter()
    ex = pool.execute(thread, code)
    took = time.perf_counter() - t0
    assert ex.logs == "2\n" and not ex.error, ex
    return took


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def one_run() -> dict[str, float]:
    r: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="airlock-bench-ci-") as tmp:
        tmp = Path(tmp)
        warm = Limits(pool_size=1, max_kernels=MANY + 2)
        jailed, raw = KernelPool(tmp / "jailed", warm), raw_pool(tmp / "raw", warm)
        assert jailed.sandboxed and not raw.sandboxed
        try:
            jailed.start()
            raw.start()
            # first use of a new thread, a warm kernel waiting
            first_j, first_r = [], []
            for i in range(WARM_SAMPLES):
                wait_warm(jailed, raw)
                first_j.append(timed(jailed, f"first{i}"))
                first_r.append(timed(raw, f"first{i}"))
            r["first_warm_ms"] = statistics.median(first_j) * 1000
            r["raw_first_warm_ms"] = statistics.median(first_r) * 1000
            # 1+1 on a thread's warm kernel
            lat_j, lat_r = [], []
            for _ in range(LATENCY_SAMPLES):
                lat_j.append(timed(jailed, "first0"))
                lat_r.append(timed(raw, "first0"))
            r["p50_ms"], r["p95_ms"] = pct(lat_j, 0.5) * 1000, pct(lat_j, 0.95) * 1000
            r["raw_p50_ms"], r["raw_p95_ms"] = pct(lat_r, 0.5) * 1000, pct(lat_r, 0.95) * 1000
            r["rss_mib"] = jailed.rss_bytes("first0") / MIB
            r["raw_rss_mib"] = raw.rss_bytes("first0") / MIB
        finally:
            jailed.shutdown()
            raw.shutdown()

        # first use without a pool: the kernel starts on demand
        cold = Limits(pool_size=0, max_kernels=MANY + 2)
        jailed, raw = KernelPool(tmp / "jailed-cold", cold), raw_pool(tmp / "raw-cold", cold)
        try:
            jailed.available()
            r["first_cold_ms"] = timed(jailed, "cold") * 1000
            r["raw_first_cold_ms"] = timed(raw, "cold") * 1000

            # MANY threads at once, each needing a kernel
            t0 = time.perf_counter()
            with ThreadPoolExecutor(MANY) as ex:
                oks = list(ex.map(lambda i: jailed.execute(f"many{i}", "1+1").logs == "2\n",
                                  range(MANY)))
            r["many_up_s"] = time.perf_counter() - t0
            r["many_ok"] = float(sum(oks))
            r["many_rss_mib"] = sum(jailed.rss_bytes(f"many{i}") or 0 for i in range(MANY)) / MIB
        finally:
            jailed.shutdown()
            raw.shutdown()
    return r


def table(results: list[dict[str, float]]) -> str:
    med, ratio = summary(results)
    rows = [
        ("`1+1` on a thread's kernel, p50", f"{med('p50_ms'):.1f} ms", f"{med('raw_p50_ms'):.1f} ms",
         f"{ratio('p50_ms', 'raw_p50_ms'):.2f}x", "≤ 50 ms"),
        ("`1+1` on a thread's kernel, p95", f"{med('p95_ms'):.1f} ms", f"{med('raw_p95_ms'):.1f} ms",
         f"{ratio('p95_ms', 'raw_p95_ms'):.2f}x", ""),
        ("first use of a new thread, warm pool (pool_size=1)", f"{med('first_warm_ms'):.0f} ms",
         f"{med('raw_first_warm_ms'):.0f} ms", f"{ratio('first_warm_ms', 'raw_first_warm_ms'):.2f}x",
         "≤ 300 ms"),
        ("first use of a new thread, no pool (pool_size=0)", f"{med('first_cold_ms'):.0f} ms",
         f"{med('raw_first_cold_ms'):.0f} ms", f"{ratio('first_cold_ms', 'raw_first_cold_ms'):.2f}x", ""),
        ("RSS of one idle kernel (process tree)", f"{med('rss_mib'):.0f} MiB",
         f"{med('raw_rss_mib'):.0f} MiB", f"{ratio('rss_mib', 'raw_rss_mib'):.2f}x", ""),
        (f"{MANY} threads at once, no pool: time until all answered", f"{med('many_up_s'):.1f} s",
         "", "", ""),
        (f"{MANY} threads at once: kernels that answered", f"{med('many_ok'):.0f}", "", "",
         f"{MANY}"),
        (f"{MANY} threads at once: total RSS", f"{med('many_rss_mib'):.0f} MiB", "", "", ""),
    ]
    head = ("| measure | jailed | raw (no bwrap) | jailed / raw | goal |\n"
            "| --- | ---: | ---: | ---: | --- |")
    return head + "\n" + "\n".join("| " + " | ".join(row) + " |" for row in rows) + (
        f"\n\nMedians over {len(results)} runs; p50/p95 over {LATENCY_SAMPLES} executions per run, "
        f"warm first use over {WARM_SAMPLES}. Raw = the same kernel and pool code without "
        "bubblewrap, measured alternately with the jailed one.")


if __name__ == "__main__":
    logging.getLogger("airlock.code_interpreter").setLevel(logging.ERROR)
    print("`.venv/bin/python scripts/bench/code_interpreter.py " + " ".join(sys.argv[1:]) + "`\n")
    bench_main("code_interpreter", "code_interpreter sandbox (bubblewrap + ipykernel)", one_run, table)
