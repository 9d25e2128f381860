"""Does a new user get a tool when the message warrants one, and no tool otherwise? (issue 25)

Run (the server is `python -m airlock serve` started with cwd=--checkout, default the cwd):

    .venv/bin/python scripts/eval/tools_warranted.py [--model NAME_OR_GGUF] [--split dev|test|all]
        [--checkout DIR] [--deadline 120] [--only ID_OR_KIND ...] [--json out.jsonl]
        [--write docs/benchmarks.md --label before|after]
    .venv/bin/python scripts/eval/tools_warranted.py --render out.jsonl [--split ...] [--write ...]

The cases are data, scripts/eval/tools_warranted_data/*.json (see the README there): a
file_search assistant as a new user writes it over four policy files (file questions, messages
not about the files, chit-chat), the seed tutorial's math tutor with code_interpreter
(computations, messages that are not), the cookbook's quiz assistant (display_quiz beside
code_interpreter and file_search without a store) and a plotting assistant. Each case is one
fresh thread and one run through the official openai client, `tool_choice` left default
("auto"), polled; pending function calls are answered from the data (the student's answers).
A run still active after --deadline seconds is cancelled and counts as not completed.

--checkout DIR measures another checkout's code (e.g. a `git worktree` of the commit before):
the server starts with cwd=DIR, so `python -m airlock` imports DIR/airlock ahead of the
editable install; which airlock that is is checked and printed before the server starts.
--json appends each case's record as one line as it ends; --render prints the tables of such a
file without a server. --write puts the test half's table per model in the doc (the dev half is
for tuning); misses are listed on stderr and in the printed output.

Checks per case (counted per model and split):
- file_question: searched (a file_search run step), cited the right file (a `file_citation`
  annotation of that file), the fact in the answer (any of `fact`, case-insensitive substring);
- not_about_files, chit_chat: searched (should be 0);
- computation: code ran (a code_interpreter step), exact answer (any of `answer` in the run's
  messages as a whole number: no digit, or decimal point and digit, right before or after;
  a zero fraction after it is the same number, "89.0" for 89), and exact in the model's own
  words (the same, with the lines the server adds after an answer left out: `own_words`);
- not_computation: code ran (should be 0);
- the second set of computations and not computations (`"batch": 2` in code.json, written after
  the first set's test half had been seen) is counted in rows of its own, and so is the third
  set of computations (`"batch": 3`, written after the second set's test half had been seen)
  the fourth (`"batch": 4`, written after the third set's test half had been seen) and the
  fifth (`"batch": 5`, written after the fourth set's test half had been seen);
- quiz: display_quiz called; every declared property present in some call (`title`,
  `questions`, and per question `question_text` and a `question_type` of the enum, plus
  `choices` for MULTIPLE_CHOICE); final answer free of "Traceback"/"SyntaxError";
- plot: an image produced (an image part in a message or an image output of a code step);
- all: empty answers (a `completed` run whose last assistant message has no text and no image,
  or that wrote no message), runs not `completed`, messages with tool markup (_conversation_driver.MARKUP),
  programs with markup (`<tool_call>`, `</tool_call>`, `<|`, `}}</`), programs that do not parse
  as Python (`ast.parse`, after dropping IPython `%magic`/`!shell` lines).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
sys.path.insert(0, str(HERE))
from _common import eval_arguments, imported_airlock, logged_server, model_label, warm_up  # noqa: E402
from _conversation_driver import Driver, RunResult  # noqa: E402
from _report import write_section  # noqa: E402

DATA = HERE / "tools_warranted_data"
PROGRAM_MARKUP = ("<tool_call>", "</tool_call>", "<|", "}}</")
KINDS = ("file_question", "not_about_files", "chit_chat", "computation", "not_computation",
         "quiz", "plot")


@dataclass
class Record:
    id: str
    kind: str
    split: str
    model: str
    message: str
    status: str
    seconds: float | None = None
    completion_tokens: int | None = None
    steps: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    functions: list[list[str]] = field(default_factory=list)  # [name, canonical arguments]
    programs: list[str] = field(default_factory=list)  # code_interpreter inputs
    cited_files: list[str] = field(default_factory=list)
    images: int = 0
    last_message_empty: bool = True
    markup_messages: int = 0
    error: str | None = None
    load1: float | None = None  # the machine's 1-minute load average as the case ended
    checks: dict[str, bool] = field(default_factory=dict)  # filled by score()


# --- data -----------------------------------------------------------------------------------

def load_setups(split: str, only: list[str]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """[(assistant as a _conversation_driver conversation, its cases)]."""
    files = json.loads((DATA / "files.json").read_text())
    code = json.loads((DATA / "code.json").read_text())
    quiz = json.loads((DATA / "quiz.json").read_text())

    def conv(cid: str, assistant: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"id": cid, "kind": cid, "instructions": assistant["instructions"],
                "tools": assistant.get("tools", []), **extra}

    setups = [
        (conv("files", files["assistant"], tools=[{"type": "file_search"}], files=files["files"]),
         files["cases"]),
        (conv("code", code["assistant"]), code["cases"]),
        (conv("quiz", quiz["assistant"], outputs=quiz["outputs"]),
         [c for c in quiz["cases"] if c["kind"] == "quiz"]),
        (conv("plot", quiz["plot_assistant"]), [c for c in quiz["cases"] if c["kind"] == "plot"]),
    ]
    out = []
    for setup, cases in setups:
        cases = [c for c in cases if (split == "all" or c["split"] == split)
                 and (not only or c["id"] in only or c["kind"] in only)]
        if cases:
            out.append((setup, cases))
    return out


# --- scoring --------------------------------------------------------------------------------

# Later sets of code.json's cases ("batch"), and their check names' suffixes (the second
# set's, "_new", is older than the others' and stays as the saved records have it).
SET_NAMES = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}
SETS = {batch: "_new" if batch == 2 else f"_{name}" for batch, name in SET_NAMES.items()}


def has_number(text: str, answers: list[str]) -> bool:
    for a in answers:
        if re.search(r"(?<![\d.])" + re.escape(a) + r"(?:\.0+)?(?![\d]|[.,]\d)", text, re.IGNORECASE):
            return True
    return False


# Where the server's own lines begin in an answer (docs/decisions.md, "What the answer carries"):
# the printed result, the number as asked, or an answer built from the tool's output.
SERVER_LINES = re.compile(r"(?:\A|\n\n)(?:The code printed:|The code's output:|To \d+ decimal"
                          r"|To a whole number:|Without the floating-point error:)")


def own_words(text: str) -> str:
    """The answer without the lines the server added to it."""
    m = SERVER_LINES.search(text)
    return text if m is None else text[:m.start()]


def parses(program: str) -> bool:
    lines = [ln for ln in program.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        ast.parse("\n".join(lines))
        return True
    except (SyntaxError, ValueError):
        return False


def quiz_complete(functions: list[list[str]], schema: dict[str, Any]) -> bool:
    """Some display_quiz call has every declared property (see the module doc)."""
    enum = schema["properties"]["questions"]["items"]["properties"]["question_type"]["enum"]
    for name, arguments in functions:
        if name != "display_quiz":
            continue
        try:
            args = json.loads(arguments)
        except ValueError:
            continue
        qs = args.get("questions") if isinstance(args, dict) else None
        if not (isinstance(args.get("title"), str) and isinstance(qs, list) and qs):
            continue
        if all(isinstance(q, dict) and q.get("question_text") and q.get("question_type") in enum
               and (q["question_type"] != "MULTIPLE_CHOICE" or q.get("choices")) for q in qs):
            return True
    return False


QUIZ_SCHEMA = next(t["function"]["parameters"] for t in json.loads(
    (DATA / "quiz.json").read_text())["assistant"]["tools"] if t["type"] == "function")


def score(rec: Record, case: dict[str, Any]) -> None:
    text = "\n".join(rec.texts)
    searched = any("file_search" in s for s in rec.steps)
    ran_code = bool(rec.programs) or any("code_interpreter" in s for s in rec.steps)
    c: dict[str, bool] = {}
    new = SETS.get(case.get("batch"), "")  # later sets, counted apart
    if rec.kind == "file_question":
        c["searched"] = searched
        c["cited"] = case["file"] in rec.cited_files
        c["fact"] = any(f.lower() in text.lower() for f in case["fact"])
    elif rec.kind in ("not_about_files", "chit_chat"):
        c["searched"] = searched
    elif rec.kind == "computation":
        c["code_ran" + new] = ran_code
        c["exact" + new] = has_number(text, case["answer"])
        c["exact_own" + new] = has_number(own_words(text), case["answer"])
    elif rec.kind == "not_computation":
        c["code_ran" + new] = ran_code
    elif rec.kind == "quiz":
        c["quiz_called"] = any(n == "display_quiz" for n, _ in rec.functions)
        c["quiz_complete"] = quiz_complete(rec.functions, QUIZ_SCHEMA)
        last = rec.texts[-1] if rec.texts else ""
        c["no_traceback"] = "traceback" not in last.lower() and "syntaxerror" not in last.lower()
    elif rec.kind == "plot":
        c["image"] = rec.images > 0
    # A run that did not complete is counted once, below, not as an empty answer too.
    c["empty"] = rec.status == "completed" and rec.last_message_empty
    c["not_completed"] = rec.status != "completed"
    c["markup_message"] = rec.markup_messages > 0
    c["markup_program"] = any(m in p for p in rec.programs for m in PROGRAM_MARKUP)
    rec.checks = c


# --- running --------------------------------------------------------------------------------

def run_case(driver: Driver, setup: dict[str, Any], assistant_id: str, file_ids: dict[str, str],
             case: dict[str, Any], model: str) -> Record:
    client = driver.client
    rec = Record(case["id"], case["kind"], case["split"], model, case["message"], "error")
    r = RunResult(case["id"], case["kind"], 0, "error")
    try:
        thread = client.beta.threads.create()
        driver._turn(setup, thread.id, assistant_id, {"user": case["message"]}, r)
        driver._inspect(thread.id, {}, file_ids, r)
        _images_and_last(client, thread.id, r.run_id, rec)
    except openai.OpenAIError as exc:
        r.status, r.error = "error", f"{type(exc).__name__}: {exc}"
    rec.status, rec.seconds, rec.error = r.status, r.seconds, r.error
    rec.completion_tokens, rec.steps, rec.texts = r.completion_tokens, r.steps, r.texts
    rec.cited_files, rec.markup_messages = r.cited_files, r.markup_messages
    rec.functions = [c for c in r.calls if c[0] != "code_interpreter"]
    rec.programs = [c[1] for c in r.calls if c[0] == "code_interpreter"]
    score(rec, case)
    return rec


def _images_and_last(client: openai.OpenAI, thread_id: str, run_id: str | None,
                     rec: Record) -> None:
    """Images in messages or code outputs, and whether the last assistant message is empty."""
    if run_id is None:
        return
    threads = client.beta.threads
    msgs = threads.messages.list(thread_id, run_id=run_id, order="asc", limit=100).data
    msgs = [m for m in msgs if m.role == "assistant"]
    rec.images = sum(p.type == "image_file" for m in msgs for p in m.content)
    if msgs:
        last = msgs[-1].content
        rec.last_message_empty = not any(
            (p.type == "text" and p.text.value.strip()) or p.type in ("image_file", "image_url")
            for p in last)
    steps = threads.runs.steps.list(run_id, thread_id=thread_id, limit=100).data
    for step in steps:
        details = step.step_details
        if details.type != "tool_calls":
            continue
        for call in details.tool_calls:
            if call.type == "code_interpreter":
                rec.images += sum(o.type == "image" for o in call.code_interpreter.outputs or [])


def evaluate(args: argparse.Namespace, setups, label: str) -> list[Record]:
    checkout = Path(args.checkout).resolve() if args.checkout else None
    imported = imported_airlock(checkout)
    print(f"server: python -m airlock in {checkout or Path.cwd()} imports {imported}",
          file=sys.stderr, flush=True)
    if checkout is not None and not Path(imported).is_relative_to(checkout):
        raise SystemExit(f"--checkout {checkout}: `python -m airlock` there imports {imported}")
    log_path = Path(args.log or tempfile.mkstemp(prefix="airlock-tw-", suffix=".log")[1])
    records: list[Record] = []
    with logged_server(args.model, log_path, checkout) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0, timeout=600)
        warm_up(client)
        driver = Driver(client, args.deadline)
        for setup, cases in setups:
            assistant_id, file_ids = driver.setup(setup)
            for case in cases:
                rec = run_case(driver, setup, assistant_id, file_ids, case, label)
                rec.load1 = os.getloadavg()[0]
                records.append(rec)
                bad = miss_names(rec)
                secs = "?" if rec.seconds is None else f"{rec.seconds:.1f}"
                print(f"  {rec.id} [{rec.split}] {rec.status}, {secs} s"
                      f"{' MISS ' + ','.join(bad) if bad else ''} | {what_happened(rec)[:160]}",
                      file=sys.stderr, flush=True)
                if args.json:
                    with open(args.json, "a") as out:
                        out.write(json.dumps(asdict(rec), ensure_ascii=False) + "\n")
    print(f"server log: {log_path}", file=sys.stderr)
    return records


# --- report ---------------------------------------------------------------------------------

# Checks where True is good; the others (searched on chit-chat, code_ran on not_computation,
# and the overall faults) are good when False.
GOOD_TRUE = {("file_question", "searched"), ("file_question", "cited"), ("file_question", "fact"),
             ("quiz", "quiz_called"), ("quiz", "quiz_complete"), ("quiz", "no_traceback"),
             ("plot", "image")} | {("computation", check + suffix)
                                   for check in ("code_ran", "exact", "exact_own")
                                   for suffix in ("", *SETS.values())}
OVERALL = ("empty", "not_completed", "markup_message", "markup_program")


def miss_names(rec: Record) -> list[str]:
    out = []
    for name, value in rec.checks.items():
        if name.startswith("exact_own"):
            continue  # how an exact answer came about, not a miss of its own
        good_true = (rec.kind, name) in GOOD_TRUE
        if value != good_true:
            out.append(name)
    if any(not parses(p) for p in rec.programs):
        out.append("unparsable_program")
    return out


def what_happened(rec: Record) -> str:
    bits = [rec.status]
    tools = [s for s in rec.steps if not s.startswith("message_creation")]
    bits.append("steps: " + ("; ".join(tools) if tools else "none"))
    if rec.functions:
        bits.append("calls: " + "; ".join(f"{n}({a[:80]})" for n, a in rec.functions))
    if rec.programs:
        bits.append("program: " + " ⏎ ".join(p.replace("\n", " ⏎ ")[:100] for p in rec.programs))
    if rec.cited_files:
        bits.append("cited " + ",".join(rec.cited_files))
    last = rec.texts[-1] if rec.texts else ""
    bits.append("answer: " + (repr(last.strip()[:160]) if last.strip() else "(empty)"))
    if rec.error:
        bits.append("error: " + rec.error[:100])
    return " | ".join(bits)


def _share(n: int, total: int) -> str:
    return f"{n}/{total} = {n / total:.0%}" if total else "–"


def _set_rows(batch: int) -> list[tuple[str, str, str, str]]:
    """A later set's computation rows: code ran, exact, exact in the model's own words."""
    suffix, name = SETS[batch], f"computations, {SET_NAMES[batch]} set"
    return [("computation", "code_ran" + suffix, f"{name}: code ran", "↑"),
            ("computation", "exact" + suffix, f"{name}: exact answer", "↑"),
            ("computation", "exact_own" + suffix, f"{name}: exact in the model's own words", "↑")]


ROWS = [  # (kind, check, row label, better)
    ("file_question", "searched", "file questions: searched", "↑"),
    ("file_question", "cited", "file questions: cited the right file", "↑"),
    ("file_question", "fact", "file questions: fact in the answer", "↑"),
    ("not_about_files", "searched", "not about the files: searched", "↓"),
    ("chit_chat", "searched", "chit-chat: searched", "↓"),
    ("computation", "code_ran", "computations: code ran", "↑"),
    ("computation", "exact", "computations: exact answer", "↑"),
    ("computation", "exact_own", "computations: exact in the model's own words", "↑"),
    ("not_computation", "code_ran", "not computations: code ran", "↓"),
    *_set_rows(2),
    ("not_computation", "code_ran_new", "not computations, second set: code ran", "↓"),
    *(row for batch in SETS if batch > 2 for row in _set_rows(batch)),
    ("quiz", "quiz_called", "quiz: display_quiz called", "↑"),
    ("quiz", "quiz_complete", "quiz: every declared property present", "↑"),
    ("quiz", "no_traceback", "quiz: final answer free of a traceback", "↑"),
    ("plot", "image", "plot: an image produced", "↑"),
    (None, "empty", "all runs: `completed` with an empty answer", "↓"),
    (None, "not_completed", "all runs: not `completed`", "↓"),
    (None, "markup_message", "all runs: messages with tool markup (runs)", "↓"),
    (None, "markup_program", "all runs: programs with tool markup (runs)", "↓"),
]


def table(records: list[Record]) -> str:
    lines = ["| measure | result | better |", "|---|---|---|"]
    for kind, check, name, better in ROWS:
        rs = [r for r in records if (kind is None or r.kind == kind) and check in r.checks]
        if not rs:
            continue
        lines.append(f"| {name} | {_share(sum(r.checks[check] for r in rs), len(rs))} | {better} |")
    programs = [p for r in records for p in r.programs]
    lines.append(f"| all runs: programs that do not parse as Python | "
                 f"{_share(sum(not parses(p) for p in programs), len(programs))} of programs | ↓ |")
    secs = sorted(r.seconds for r in records if r.seconds is not None)
    if secs:
        p95 = secs[max(0, -(-95 * len(secs) // 100) - 1)]
        lines.append(f"| all runs: seconds median / p95 | {statistics.median(secs):.1f} / "
                     f"{p95:.1f} | ↓ |")
    return "\n".join(lines)


def misses(records: list[Record]) -> str:
    out = []
    for r in records:
        bad = miss_names(r)
        if bad:
            out.append(f"- `{r.id}` {r.message!r} — missed {', '.join(bad)}: {what_happened(r)}")
    return "\n".join(out) if out else "- none"


def load_records(path: Path) -> list[Record]:
    """The records, scored again against the current data (the checks are derived)."""
    cases = {c["id"]: c for setup, cs in load_setups("all", []) for c in cs}
    records = []
    for line in path.read_text().splitlines():
        if line.strip():
            rec = Record(**json.loads(line))
            score(rec, cases[rec.id])
            records.append(rec)
    return records


def report(args: argparse.Namespace, records: list[Record], wall: float | None) -> None:
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        if args.split == "all" or r.split == args.split:
            groups[(r.model, r.split)].append(r)
    for (model, split), rs in sorted(groups.items()):
        head = (f"Model **{model}**, {split} half: {len(rs)} cases, one fresh thread and run "
                f"each, `tool_choice` auto; deadline {args.deadline:.0f} s per run"
                + (f"; {wall / 60:.0f} min wall" if wall is not None else ""))
        loads = [r.load1 for r in rs if r.load1 is not None]
        if loads:
            head += f"; load average {min(loads):.1f}–{max(loads):.1f} on 2 cores"
        head += "." + (f" {args.note}" if args.note else "")
        print(f"\n## {model}, {split} half\n\n{head}\n\n{table(rs)}\n\nMisses:\n{misses(rs)}")
        if args.write and split == "test":
            argv = sys.argv[1:]
            if "--note" in argv:  # the note is printed under the heading already
                i = argv.index("--note")
                argv = argv[:i] + argv[i + 2:]
            command = ("python scripts/eval/tools_warranted.py " + shlex.join(argv)).strip()
            name = f"eval-tools-warranted-{model}" + (f"-{args.label}" if args.label else "")
            title = f"Evaluation: tools when warranted ({model}, test half" + (
                f", {args.label})" if args.label else ")")
            write_section(Path(args.write), name, title, head + "\n\n" + table(rs), 1, command)


def main() -> None:
    ap = eval_arguments("case")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="test")
    ap.add_argument("--checkout", help="start the server in this checkout (cwd), to measure it")
    ap.add_argument("--only", nargs="*", default=[], help="case ids or kinds to run")
    ap.add_argument("--write", help="update this markdown file's section (test half only)")
    ap.add_argument("--note", help="a sentence added under the table's heading (e.g. the load)")
    args = ap.parse_args()
    if args.render:
        report(args, load_records(Path(args.render)), None)
        return
    t0 = time.monotonic()
    records = evaluate(args, load_setups(args.split, args.only), model_label(args.model))
    report(args, records, time.monotonic() - t0)


if __name__ == "__main__":
    main()
