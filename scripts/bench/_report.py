"""What every benchmark shares: repeat a run, print the median table, keep it in the docs."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def bench_main(name: str, title: str, one_run: Callable[[], dict[str, float]],
               table: Callable[[list[dict[str, float]]], str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--write", help="update this markdown file's section for this benchmark")
    args = ap.parse_args()
    results: list[dict[str, Any]] = []
    for i in range(args.runs):
        results.append(one_run())
        print(f"run {i + 1}/{args.runs}: " + ", ".join(f"{k}={v:.2f}" for k, v in results[-1].items()),
              file=sys.stderr)
    text = table(results)
    print(text)
    if args.write:
        command = f"python scripts/bench/{name}.py " + " ".join(sys.argv[1:])
        write_section(Path(args.write), name, title, text, args.runs, command)


def summary(results: list[dict[str, float]]):
    """(med, ratio): the median of a measure, and the median of a per-run ratio of two measures.

    Ratios are taken within each run first, so both sides of one saw the same machine noise.
    """
    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    def ratio(a: str, b: str) -> float:
        return statistics.median(r[a] / r[b] for r in results)

    return med, ratio


def write_section(path: Path, name: str, title: str, text: str, runs: int, command: str) -> None:
    """Replaces the block between `<!-- bench:NAME -->` markers, keeping other benchmarks."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    stamp = time.strftime("%Y-%m-%d")
    how = f"median of {runs} runs" if runs > 1 else "one run"
    block = (f"{begin}\n## {title}\n\n`{command}` — {how}, {stamp}, "
             f"on this project's 2-core machine.\n\n{text}\n{end}")
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)
