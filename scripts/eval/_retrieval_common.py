"""What the retrieval evaluations share: relevance of a hit, the answer check, and the measures.

A hit is relevant to a question when it comes from the question's source file and its text
contains the question's answer string (case and whitespace folded). recall@n: the share of
questions with a relevant hit among the first n. MRR: the mean of 1/rank of the first relevant
hit among the hits asked for (0 when there is none).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def relevant(hit, question: dict) -> bool:
    return hit.file_id == question["file"] and fold(question["answer"]) in fold(hit.text)


def first_relevant(hits: Iterable, question: dict) -> int | None:
    """1-based rank of the first relevant hit, or None."""
    return next((i + 1 for i, h in enumerate(hits) if relevant(h, question)), None)


def check_answers(questions: Sequence[dict], chunks_by_file: dict[str, list[str]]) -> None:
    """Every question must have a chunk of its file holding its answer, or the eval is void."""
    for q in questions:
        if not any(fold(q["answer"]) in fold(c) for c in chunks_by_file.get(q["file"], [])):
            raise SystemExit(f"question {q['id']}: no chunk of {q['file']} contains "
                             f"{q['answer']!r}")


def recall(ranks: Sequence[int | None], at: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= at) / len(ranks) if ranks else 0.0


def mrr(ranks: Sequence[int | None]) -> float:
    return statistics.fmean(1 / r if r else 0.0 for r in ranks) if ranks else 0.0
