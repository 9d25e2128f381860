"""Retrieval quality of the fast embedding runtime (OpenVINO) against PyTorch float32.

Run: .venv/bin/python scripts/eval/runtime_parity.py [--pool 100]
(after `python scripts/eval/retrieval.py`, whose cached OpenVINO-built index it reads)

Re-embedding the whole Bible on PyTorch takes 15-40 minutes on the shared 2-core machine, so the
comparison runs over a candidate pool instead: the union, over all 66 questions of
scripts/eval/retrieval_data/questions.json, of the --pool windows nearest each question by exact
cosine on the OpenVINO vectors (about 4,000 of the index's 13,671 windows). Every window in the
pool is embedded again on PyTorch float32 (the same text, from the same chunking), the questions
too, and each runtime then ranks the pool by exact cosine. A chunk's vector rank is its best
window's, fused with the same keyword ranking by RRF exactly as SearchIndex.search does (60 per
list, k = 20), and scored like retrieval.py: recall@5 and MRR, per half, vector-only and hybrid.
The pool holds both runtimes' top results (their vectors agree to cosine >= 0.9999, so PyTorch's
nearest windows are among OpenVINO's nearest 100), so ranking within it ranks like the full index.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import retrieval  # noqa: E402

from airlock.tools.file_search import Embedder, SearchIndex, chunk, extract_text  # noqa: E402
from airlock.tools.file_search.index import fuse  # noqa: E402


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=100, help="nearest windows per question pooled")
    args = ap.parse_args()
    questions = json.loads(retrieval.QUESTIONS.read_text())
    fast = Embedder()
    root = retrieval.CACHE / retrieval.cache_key(fast.backend)
    if not (root / "done.json").is_file():
        raise SystemExit(f"no cached index at {root}: run scripts/eval/retrieval.py first")
    index = SearchIndex(root / "index", fast)
    col = index._collection(retrieval.STORE, create=False)
    stored = col.get(include=["embeddings", "metadatas"])
    vectors = np.asarray(stored["embeddings"], dtype=np.float32)
    q_fast = fast.embed([q["question"] for q in questions])
    pool = sorted({int(i) for v in q_fast for i in np.argsort(-(vectors @ v))[:args.pool]})
    print(f"pool: {len(pool)} of {len(vectors)} windows", file=sys.stderr, flush=True)

    docs: dict[str, object] = {}
    texts = []
    for i in pool:
        file_id, a, b = stored["ids"][i].rsplit(":", 2)
        if file_id not in docs:
            path = root / "files" / file_id
            docs[file_id] = chunk(extract_text(path, path.name), fast.tokenizer,
                                  retrieval.CHUNK_TOKENS, retrieval.CHUNK_OVERLAP)
        texts.append(docs[file_id].piece_text(int(a), int(b)))  # type: ignore[attr-defined]
    torch = Embedder(backend="torch")
    parts = []
    for s in range(0, len(texts), 64):
        parts.append(torch.embed(texts[s:s + 64]))
        print(f"  PyTorch: {min(s + 64, len(texts))}/{len(texts)} windows", file=sys.stderr,
              flush=True)
    runtimes = {fast.describe(): (vectors[pool], q_fast),
                torch.describe(): (np.concatenate(parts), torch.embed([q["question"] for q in questions]))}
    metas = [stored["metadatas"][i] for i in pool]
    (a_w, a_q), (b_w, b_q) = runtimes.values()
    print(f"window vectors, OpenVINO vs PyTorch: cosine min {(a_w * b_w).sum(1).min():.5f}; "
          f"questions: min {(a_q * b_q).sum(1).min():.5f}")

    def vector_ranking(w: np.ndarray, v: np.ndarray, n: int = 60) -> list:
        sims = w @ v
        best: dict = {}
        for i in np.argsort(-sims):
            first = int(metas[i]["chunk_index"])
            for j in range(first, int(metas[i].get("chunk_last", first)) + 1):
                best.setdefault((retrieval.STORE, metas[i]["file_id"], j), 1.0 - float(sims[i]))
            if len(best) >= n:
                break
        return sorted(best, key=lambda key: (best[key], key))[:n]

    ranks: dict[tuple[str, str, str], list[int | None]] = {}
    for name, (w, qv) in runtimes.items():
        for qi, q in enumerate(questions):
            vr = vector_ranking(w, qv[qi])
            kr = index._keywords.search([retrieval.STORE], q["question"], 60)
            for mode, keys in (("vector", vr[:20]), ("hybrid", [k for k, _ in fuse([vr, kr])[:20]])):
                hit_texts = index._keywords.texts(keys)
                rank = next((i + 1 for i, k in enumerate(keys) if k[1] == q["file"]
                             and fold(q["answer"]) in fold(hit_texts[k])), None)
                ranks.setdefault((q["split"], mode, name), []).append(rank)
    index.close()
    print("\n| half | mode | runtime | recall@5 | MRR | questions whose first relevant rank "
          "differs between the runtimes |")
    print("|---|---|---|---|---|---|")
    names = list(runtimes)
    for (half, mode, name), rs in sorted(ranks.items()):
        other = ranks[(half, mode, names[1 - names.index(name)])]
        r5 = sum(1 for r in rs if r and r <= 5) / len(rs)
        mrr = statistics.fmean(1 / r if r else 0.0 for r in rs)
        print(f"| {half} | {mode} | {name} | {r5:.2f} | {mrr:.3f} | "
              f"{sum(1 for a, b in zip(rs, other, strict=True) if a != b)} |")


if __name__ == "__main__":
    main()
