"""Citation evaluation: is an answer sentence the model left uncited cited only when its source supports it?

Run: .venv/bin/python scripts/eval/citations.py [--split dev|test|all] [--sweep]
                                                [--write docs/benchmarks.md]

Each pair in citation_data/pairs.json is a source passage (1-5 sentences of a policy, manual or
notes), an answer sentence and a hand-given label: `supported` (the source says it: paraphrases,
partial and word-for-word copies), `contradicted` (a number changed, negation flipped, an
antonym) or `unrelated` (the same topic but another claim, generic filler). The sentence is
streamed through the server's own `Citations` (airlock/engine/core/citations.py) with the
passage as its only source, exactly as an answer streams after a file_search; the sentence is
"cited" when an annotation comes out. Reported for the rule in force ("new") and for the word
overlap rule it replaced ("old": half of the sentence's content words, and two, anywhere in the
source): precision and recall of "cited" against `supported`, and how many contradicted (goal
0) and unrelated sentences were cited.

Dev and test halves: each pair carries its half, alternating within each label; the halves are
data, never recomputed. The rule's settings were chosen on the dev half ONLY (`--sweep`, which
refuses any other half); the test half is what is reported (the default).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from _report import write_section  # noqa: E402

from airlock.engine.core import citations  # noqa: E402
from airlock.engine.core.citations import Citations, Source, content_words  # noqa: E402

PAIRS = Path(__file__).resolve().parent / "citation_data" / "pairs.json"
OLD_SUPPORT = 0.5


class OldCitations(Citations):
    """The rule before issue 25, verbatim: the source holding the largest share (at least half,
    and two) of the sentence's content words, anywhere in the passage, supports it."""

    def _best_support(self, sentence: str) -> Source | None:
        words = content_words(citations.MARKER.sub("", sentence))
        if len(words) < 2:
            return None
        best, best_share = None, 0.0
        for key in sorted(self.sources):
            hits = len(words & content_words(self.sources[key].text))
            share = hits / len(words)
            if hits >= 2 and share >= OLD_SUPPORT and share > best_share:
                best, best_share = self.sources[key], share
        return best


RULES: dict[str, Callable[[list[Source]], Citations]] = {"old": OldCitations, "new": Citations}


def cited(rule: str, source: str, sentence: str) -> bool:
    """Streams the sentence, as the model would write it, with the passage as the only source."""
    cite = RULES[rule]([Source(0, 0, "file-eval", "source.txt", source)])
    cite.feed(sentence)
    cite.finish()
    return bool(cite.annotations)


def score(rule: str, pairs: list[dict]) -> dict:
    got = {"cited": 0, "right": 0, "supported": 0, "contradicted": 0, "unrelated": 0, "misses": []}
    for p in pairs:
        c = cited(rule, p["source"], p["sentence"])
        got["supported"] += p["label"] == "supported"
        if c:
            got["cited"] += 1
            got["right"] += p["label"] == "supported"
            if p["label"] != "supported":
                got[p["label"]] += 1
        if c != (p["label"] == "supported"):
            got["misses"].append(f"{rule} {p['id']} {p['label']:12} {'cited' if c else 'uncited'}: "
                                 f"{p['sentence']}")
    got["precision"] = got["right"] / got["cited"] if got["cited"] else 1.0
    got["recall"] = got["right"] / got["supported"] if got["supported"] else 1.0
    return got


def row(rule: str, half: str, pairs: list[dict], g: dict) -> str:
    contradicted = sum(p["label"] == "contradicted" for p in pairs)
    unrelated = sum(p["label"] == "unrelated" for p in pairs)
    return (f"| {rule} | {half} | {len(pairs)} | {g['right']}/{g['cited']} = **{g['precision']:.0%}** "
            f"| {g['right']}/{g['supported']} = **{g['recall']:.0%}** "
            f"| **{g['contradicted']}**/{contradicted} | {g['unrelated']}/{unrelated} |")


@contextmanager
def setting(name: str, value: float) -> Iterator[None]:
    old = getattr(citations, name)
    setattr(citations, name, value)
    try:
        yield
    finally:
        setattr(citations, name, old)


def sweep(pairs: list[dict]) -> None:
    """The new rule's coverage threshold tried over a range on the dev half."""
    print("| SUPPORT | precision | recall | contradicted cited | unrelated cited |\n|---|---|---|---|---|")
    for t in [x / 20 for x in range(8, 21)]:
        with setting("SUPPORT", t):
            g = score("new", pairs)
        print(f"| {t:.2f} | {g['precision']:.0%} | {g['recall']:.0%} | {g['contradicted']} "
              f"| {g['unrelated']} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("dev", "test", "all"), default="test",
                    help="which half to score (default test, the reported one; tune on dev only)")
    ap.add_argument("--sweep", action="store_true", help="try thresholds (dev half only)")
    ap.add_argument("--write", help="keep the table in this markdown file (docs/benchmarks.md)")
    args = ap.parse_args()
    pairs = [p for p in json.loads(PAIRS.read_text()) if args.split in ("all", p["split"])]
    if args.sweep:
        if args.split != "dev":
            sys.exit("--sweep chooses settings, so it runs on the dev half only (--split dev)")
        sweep(pairs)
        return
    lines = ["| rule | half | pairs | precision (cited that are supported) | recall (supported that "
             "are cited) | contradicted cited (goal 0) | unrelated cited |",
             "|---|---|---|---|---|---|---|"]
    misses = []
    t0 = time.perf_counter()
    for rule in ("old", "new"):
        g = score(rule, pairs)
        lines.append(row(rule, args.split, pairs, g))
        misses += g["misses"]
    per_pair = (time.perf_counter() - t0) / (2 * len(pairs)) * 1000
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    wrong = [m.removeprefix("new ") for m in misses if m.startswith("new ")]
    table = "\n".join(lines) + (
        f"\n\n{len(pairs)} labelled pairs (scripts/eval/citation_data/pairs.json); "
        f"{per_pair:.2f} ms per sentence streamed, both rules; load: `{load}`. "
        f"The new rule's mistakes: {'; '.join(f'`{m}`' for m in wrong) or 'none'}.")
    print(table)
    print("\n".join(misses), file=sys.stderr)
    if args.write:
        command = "python scripts/eval/citations.py " + " ".join(sys.argv[1:])
        name = "eval-citations" + ("" if args.split == "test" else f"-{args.split}")
        write_section(Path(args.write), name, f"Evaluation: auto-citations ({args.split} half)",
                      table, 1, command)


if __name__ == "__main__":
    main()
