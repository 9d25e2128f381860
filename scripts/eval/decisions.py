"""The server's built-in tool decisions alone, without a model: does it search when a message is
about the files, and run code when a computation is asked? (airlock/engine/core/decisions.py)

Run: .venv/bin/python scripts/eval/decisions.py [--split dev|test|all] [--grid]
                                               [--write docs/benchmarks.md]

Cases: scripts/eval/tools_warranted_data (the same messages tools_warranted.py sends to a real
server), each with its fixed half. The threshold and cues are chosen on the dev half ONLY
(`--split dev --grid` prints the search threshold's grid); the test half is what is reported.

- search: the four policy files of files.json go through the product's path (extract_text,
  chunk, SearchIndex, as ingestion does) into one store; each message of files.json is
  compared with it (`SearchIndex.nearest`); a `file_question` should search, `not_about_files`
  and `chit_chat` should not.
- code: every message of code.json and quiz.json, and files.json's: `computation` and `plot`
  should run code; the others should not. code.json's second set (`"batch": 2`) is also
  counted on a row of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
from _report import write_section  # noqa: E402

from airlock.engine.core import decisions  # noqa: E402
from airlock.tools.file_search import Embedder, SearchIndex, chunk, extract_text  # noqa: E402

DATA = HERE / "tools_warranted_data"
STORE = "vs_decisions"
# The default static chunking of a vector store (800 tokens, 400 overlap), as ingestion uses it.
CHUNK_TOKENS, CHUNK_OVERLAP = 800, 400


def load(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def similarities(files: dict) -> dict[str, float]:
    embedder = Embedder(None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        index = SearchIndex(root / "index", embedder)
        for f in files["files"]:
            path = root / f["name"]
            path.write_text(f["text"])
            doc = chunk(extract_text(path, path.name), embedder.tokenizer, CHUNK_TOKENS,
                        CHUNK_OVERLAP)
            index.add_file(STORE, f["name"], doc)
        out = {c["id"]: index.nearest([STORE], c["message"]) for c in files["cases"]}
        index.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("dev", "test", "all"), default="test")
    ap.add_argument("--grid", action="store_true", help="the search threshold's grid (dev only)")
    ap.add_argument("--write")
    args = ap.parse_args()
    if args.grid and args.split != "dev":
        ap.error("--grid is for choosing: dev half only")

    def half(cases: list[dict]) -> list[dict]:
        return [c for c in cases if args.split == "all" or c["split"] == args.split]

    files = load("files")
    sims = similarities(files)
    search_cases = half(files["cases"])
    misses: list[str] = []

    def search_right(threshold: float) -> int:
        return sum((sims[c["id"]] >= threshold) == (c["kind"] == "file_question")
                   for c in search_cases)

    if args.grid:
        for t in [x / 100 for x in range(10, 62, 2)]:
            print(f"threshold {t:.2f}: {search_right(t)}/{len(search_cases)}")
    for c in sorted(search_cases, key=lambda c: sims[c["id"]]):
        wanted = c["kind"] == "file_question"
        if decisions.wants_search(sims[c["id"]]) != wanted:
            misses.append(f"search {c['kind']} {sims[c['id']]:.2f} {c['message']!r}")
    code_cases = half(load("code")["cases"] + load("quiz")["cases"] + files["cases"])
    code_right = 0
    for c in code_cases:
        wanted = c["kind"] in ("computation", "plot")
        got = decisions.wants_code(c["message"])
        code_right += got == wanted
        if got != wanted:
            misses.append(f"code {c['kind']} {c['message']!r}")

    def row(kinds: tuple[str, ...], pred) -> str:
        cases = [c for c in search_cases + code_cases if c["kind"] in kinds]
        cases = list({c["id"]: c for c in cases}.values())
        hit = sum(pred(c) for c in cases)
        return f"{hit}/{len(cases)}"

    n_s, n_c = len(search_cases), len(code_cases)
    rs, rc = search_right(decisions.SEARCH_SIMILARITY), code_right
    table = "\n".join([
        "| decision | half | right | file questions searched | not about files searched "
        "| chit-chat searched | computations and plots: code | other messages: code |",
        "|---|---|---|---|---|---|---|---|",
        f"| search (similarity ≥ {decisions.SEARCH_SIMILARITY}) | {args.split} "
        f"| {rs}/{n_s} = **{rs / n_s:.0%}** "
        f"| {row(('file_question',), lambda c: decisions.wants_search(sims[c['id']]))} "
        f"| {row(('not_about_files',), lambda c: decisions.wants_search(sims[c['id']]))} "
        f"| {row(('chit_chat',), lambda c: decisions.wants_search(sims[c['id']]))} | | |",
        f"| code | {args.split} | {rc}/{n_c} = **{rc / n_c:.0%}** | | | "
        f"| {row(('computation', 'plot'), lambda c: decisions.wants_code(c['message']))} "
        f"| {sum(decisions.wants_code(c['message']) for c in code_cases if c['kind'] not in ('computation', 'plot'))}"  # noqa: E501
        f"/{sum(c['kind'] not in ('computation', 'plot') for c in code_cases)} |",
    ])
    second = [c for c in code_cases if c.get("batch") == 2]
    if second:  # code.json's second set, written after the first set's test half was seen
        right = sum(decisions.wants_code(c["message"]) == (c["kind"] == "computation")
                    for c in second)
        comp = [c for c in second if c["kind"] == "computation"]
        other = [c for c in second if c["kind"] != "computation"]
        table += (f"\n| code, second set | {args.split} | {right}/{len(second)} = "
                  f"**{right / len(second):.0%}** | | | "
                  f"| {sum(decisions.wants_code(c['message']) for c in comp)}/{len(comp)} "
                  f"| {sum(decisions.wants_code(c['message']) for c in other)}/{len(other)} |")
    print(table)
    print("\n".join(misses), file=sys.stderr)
    if args.write:
        command = "python scripts/eval/decisions.py " + " ".join(sys.argv[1:])
        write_section(Path(args.write), f"eval-decisions-{args.split}",
                      f"Evaluation: the server's built-in tool decisions ({args.split} half)",
                      table, 1, command)


if __name__ == "__main__":
    main()
