"""Multi-turn conversations on a real `airlock serve`: do runs end, and end well?

Run (from the checkout to measure: the server is `python -m airlock` started in the cwd):

    .venv/bin/python scripts/eval/conversations.py [--model NAME_OR_GGUF] [--runs N]
        [--only ID_OR_KIND ...] [--deadline 120] [--json out.jsonl]
        [--write docs/benchmarks.md --label before|after]
    .venv/bin/python scripts/eval/conversations.py --render out.jsonl [--model ...] [--write ...]

--json appends each run's record as one JSON line as soon as the run ends, so an interrupted
evaluation keeps what it measured; --render prints (and --write writes) the tables of such a
file without starting a server (pass the same --model and --runs for the heading).

The conversations are data, scripts/eval/conversations_data/*.json (format in the README there):
ordinary chat, tutoring, functions, file_search and code, including the seeds' flows (the math
tutor's "I don't like math" then "Thank you!", display_quiz, the weather functions). Each user
turn is one Assistants run driven through the official openai client the way the cookbook does
(create, poll), except that every pending function call is answered (from the data's fixed
outputs); how often answering only tool_calls[0], as the cookbook does, would have failed is
counted too (runs with a round of more than one call). No max_completion_tokens is set: a loop
must show. A run still active after --deadline seconds is cancelled and counts as not completed
("timeout"); the turns after it in its conversation are "skipped" (also not completed).

Per run: final status, completion tokens (run.usage; a run cancelled before any usage was stored
counts as infinitely many), wall seconds from create to the end seen by polling (function
outputs included), assistant messages with tool markup (see MARKUP in _conversation_driver),
duplicate identical calls (same name and canonical arguments, function calls across all the
run's rounds plus code_interpreter inputs), and loops caught: lines of the server's log, read at
info level, matching /loop guard/i while the run was active (runs go one at a time). Percentiles
are nearest-rank over runs.

Before the model is measured, one untimed run loads it (the first run would otherwise pay for
loading the GGUF). --runs repeats the whole set on the same server, for timing medians.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import openai

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
sys.path.insert(0, str(HERE))
from _common import eval_arguments, logged_server, model_label, warm_up  # noqa: E402
from _conversation_driver import Driver, RunResult  # noqa: E402
from _conversation_report import KINDS, checks_table, summary_table  # noqa: E402
from _report import write_section  # noqa: E402

DATA = HERE / "conversations_data"
LOOP_GUARD = re.compile(r"loop guard", re.IGNORECASE)


def load_conversations(only: list[str]) -> list[dict]:
    conversations = []
    for kind in KINDS:
        for c in json.loads((DATA / f"{kind}.json").read_text()):
            if c["kind"] != kind:
                raise SystemExit(f"{c['id']}: kind {c['kind']!r} in {kind}.json")
            if not only or c["id"] in only or c["kind"] in only:
                conversations.append(c)
    return conversations


class LogWatch:
    """Counts loop-guard lines the server wrote since the last call."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def new_lines(self) -> int:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        return sum(bool(LOOP_GUARD.search(line)) for line in chunk.decode(errors="replace").splitlines())


def main() -> None:
    ap = eval_arguments("run")
    ap.add_argument("--runs", type=int, default=1, help="repeat the whole set this many times")
    ap.add_argument("--only", nargs="*", default=[], help="conversation ids or kinds to run")
    ap.add_argument("--write", help="update this markdown file's section for this evaluation")
    args = ap.parse_args()
    conversations = load_conversations(args.only)
    t0 = time.monotonic()
    if args.render:
        results = load_records(Path(args.render))
    else:
        results = evaluate(args, conversations)
    wall = time.monotonic() - t0
    report(args, conversations, results, wall)


def load_records(path: Path) -> list[RunResult]:
    text = path.read_text()
    rows = json.loads(text) if text.lstrip().startswith("[") else [
        json.loads(line) for line in text.splitlines() if line.strip()]
    return [RunResult(**row) for row in rows]


def evaluate(args: argparse.Namespace, conversations: list[dict]) -> list[RunResult]:
    log_path = Path(args.log or tempfile.mkstemp(prefix="airlock-conv-", suffix=".log")[1])
    results: list[RunResult] = []
    with logged_server(args.model, log_path) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0, timeout=600)
        warm_up(client)
        watch = LogWatch(log_path)
        watch.new_lines()
        driver = Driver(client, args.deadline)

        def on_run_end(r: RunResult) -> None:
            r.loop_guard_lines = watch.new_lines()
            tokens = "?" if r.completion_tokens is None else r.completion_tokens
            seconds = "?" if r.seconds is None else f"{r.seconds:.1f}"
            print(f"  {r.conversation}#{r.turn}: {r.status}, {tokens} tokens, {seconds} s"
                  f"{', MARKUP' if r.markup_messages else ''}"
                  f"{f', {r.duplicate_calls} dup calls' if r.duplicate_calls else ''}"
                  f"{f', {r.loop_guard_lines} loop guard' if r.loop_guard_lines else ''}"
                  f" | {(r.texts[-1] if r.texts else r.error or '')[:100]!r}",
                  file=sys.stderr, flush=True)
            if args.json:
                with open(args.json, "a") as out:
                    out.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")

        for rep in range(args.runs):
            for c in conversations:
                print(f"[{rep + 1}/{args.runs}] {c['id']}", file=sys.stderr, flush=True)
                results += driver.converse(c, on_run_end)
    print(f"server log: {log_path}", file=sys.stderr)
    return results


def report(args: argparse.Namespace, conversations: list[dict], results: list[RunResult],
           wall: float) -> None:
    label = model_label(args.model)
    ids = {r.conversation for r in results}
    conversations = [c for c in conversations if c["id"] in ids]
    text = "\n".join([
        f"Model **{label}**; {len(conversations)} conversations, {len(results)} runs "
        f"({args.runs} pass{'es' if args.runs > 1 else ''}); deadline {args.deadline:.0f} s per "
        "run" + ("." if args.render else f"; {wall / 60:.0f} min wall."), "",
        summary_table(results), "", checks_table(results, conversations)])
    print(text)
    if args.write:
        command = ("python scripts/eval/conversations.py " + shlex.join(sys.argv[1:])).strip()
        name = f"eval-conversations-{label}" + (f"-{args.label}" if args.label else "")
        title = f"Evaluation: multi-turn conversations ({label}" + (
            f", {args.label})" if args.label else ")")
        write_section(Path(args.write), name, title, text, args.runs, command)


if __name__ == "__main__":
    main()
