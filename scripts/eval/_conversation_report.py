"""Tables of scripts/eval/conversations.py: per kind and overall, then the goals' special checks."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence

from _conversation_driver import RunResult

KINDS = ("chat", "tutoring", "functions", "file_search", "code")
GOAL_TOKENS_P95 = 300
GOAL_THANK_YOU_S = 10.0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def _num(x: float, unit: str = "", digits: int = 0) -> str:
    return "∞ (timed out)" if math.isinf(x) else f"{x:.{digits}f}{unit}"


def _p50_p95(values: list[float], unit: str = "", digits: int = 0) -> str:
    if not values:
        return "–"
    return f"{_num(percentile(values, 0.5), unit, digits)} / {_num(percentile(values, 0.95), unit, digits)}"


def _share(n: int, total: int) -> str:
    return f"{n}/{total} = {n / total:.0%}" if total else "–"


def _row(name: str, rs: list[RunResult]) -> str:
    ran = [r for r in rs if r.status != "skipped"]
    # A run whose tokens are unknown (timed out before any usage was stored) counts as the
    # worst value, so a percentile never looks better for the runs that never ended.
    tokens = [float(r.completion_tokens) if r.completion_tokens is not None else math.inf
              for r in ran]
    seconds = [r.seconds if r.seconds is not None else math.inf for r in ran]
    completed = sum(r.status == "completed" for r in rs)
    expected = [r.expect_found for r in rs if r.expect_found is not None]
    return (f"| {name} | {len(rs)} | {_share(completed, len(rs))} "
            f"| {sum(r.loop_guard_lines for r in rs)} | {_p50_p95(tokens)} "
            f"| {_p50_p95(seconds, ' s', 1)} | {sum(r.markup_messages for r in rs)} "
            f"| {sum(r.duplicate_calls for r in rs)} | {sum(r.multi_call_rounds > 0 for r in rs)} "
            f"| {_share(sum(expected), len(expected))} |")


def summary_table(results: list[RunResult]) -> str:
    lines = [
        "| kind | runs | ended `completed` | loops caught | completion tokens p50 / p95 "
        "| seconds p50 / p95 | messages with tool markup | duplicate identical calls "
        "| runs with a multi-call round | expected text found |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        rs = [r for r in results if r.kind == kind]
        if rs:
            lines.append(_row(kind, rs))
    lines.append(_row("**all**", results))
    endings = Counter(r.status for r in results)
    lines += ["", "Endings: " + ", ".join(f"{k} {v}" for k, v in sorted(endings.items())) + "."]
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "✅" if ok else "❌"


def checks_table(results: list[RunResult], conversations: list[dict]) -> str:
    checks = {c["id"]: c.get("checks", []) for c in conversations}
    lines = ["| check | result | goal | met |", "|---|---|---|---|"]
    thanks = [r.seconds for r in results if r.measure == "thank_you" and r.status == "completed"
              and r.seconds is not None]
    n_thanks = sum(r.measure == "thank_you" for r in results)
    if n_thanks:
        value = statistics.median(thanks) if len(thanks) == n_thanks else math.inf
        lines.append(f"| seed math tutor, \"Thank you!\" turn: seconds (median of {n_thanks}) "
                     f"| {_num(value, ' s', 1)} | < {GOAL_THANK_YOU_S:.0f} s "
                     f"| {_verdict(value < GOAL_THANK_YOU_S)} |")
    weather = [r for r in results if "weather" in checks.get(r.conversation, [])]
    if weather:
        ok = sum(r.status == "completed" and r.action_rounds > 0 and _plain(r) for r in weather)
        lines.append(f"| weather flow: function outputs submitted, then `completed` with a "
                     f"plain-text answer | {ok}/{len(weather)} | all | {_verdict(ok == len(weather))} |")
    fib = [r for r in results if "fibonacci" in checks.get(r.conversation, [])]
    if fib:
        ok = sum(r.used_code and any("6765" in t for t in r.texts) for r in fib)
        lines.append(f"| Fibonacci: ran code_interpreter and the answer says 6765 "
                     f"| {ok}/{len(fib)} | all | {_verdict(ok == len(fib))} |")
    cite = [r for r in results if r.cite_ok is not None]
    if cite:
        ok = sum(bool(r.cite_ok) for r in cite)
        lines.append(f"| file_search turns whose answer has a `file_citation` of the expected file "
                     f"| {ok}/{len(cite)} | at least one | {_verdict(ok > 0)} |")
    ran = [r for r in results if r.status != "skipped"]
    tokens = [float(r.completion_tokens) if r.completion_tokens is not None else math.inf for r in ran]
    if tokens:
        p95 = percentile(tokens, 0.95)
        lines.append(f"| completion tokens per run, p95 | {_num(p95)} | ≤ {GOAL_TOKENS_P95} "
                     f"| {_verdict(p95 <= GOAL_TOKENS_P95)} |")
    completed = sum(r.status == "completed" for r in results)
    lines.append(f"| runs ending `completed` | {_share(completed, len(results))} | ≥ 95% "
                 f"| {_verdict(completed >= 0.95 * len(results))} |")
    markup = sum(r.markup_messages for r in results)
    dups = sum(r.duplicate_calls for r in results)
    lines.append(f"| messages with tool markup | {markup} | 0 | {_verdict(markup == 0)} |")
    lines.append(f"| duplicate identical calls | {dups} | 0 | {_verdict(dups == 0)} |")
    return "\n".join(lines)


def _plain(r: RunResult) -> bool:
    """A final answer in words: present, no tool markup, not a JSON object or array."""
    text = r.texts[-1].strip() if r.texts else ""
    return bool(text) and r.markup_messages == 0 and not text.startswith(("{", "["))
