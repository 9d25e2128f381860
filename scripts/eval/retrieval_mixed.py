"""Retrieval evaluation for file_search over mixed documents: the user's message, each model's
own query, and the fused search the server runs.

Run: .venv/bin/python scripts/eval/retrieval_mixed.py [--split dev|test|all] [--k 20]
                      [--models smollm2,qwen | none] [--misses] [--seed-flow]
                      [--write docs/benchmarks.md [--label before] [--tried FILE.md]]

Why a second set. scripts/eval/retrieval.py's test half (King James Bible) has been looked at
more than once and is no longer held out; its corpus is also one kind of text. This set is new,
smaller, and closer to what apps upload: policies, manuals, meeting notes, a README and a config
guide, contracts, minutes, and source code, as .md/.txt, PDF, .docx, .py and .js, with documents
that resemble each other on purpose (two travel policies of different years, two weekly meeting
notes of one team, two appliance manuals that both have an error E3 and E5, a rate limiter and
a retry module) so that ranking the right file first matters.

Dev and test halves. Every question carries "split" in questions.json, fixed when the set was
written (alternating within each document kind, in id order) and never recomputed. Ranking
settings are chosen on the dev half ONLY; the test half is what gets reported (the default), and
each reported configuration is run on it once, at the end.

Documents: retrieval_mixed_data/docs/. Plain text and code files are used as they are; a file
named NAME.pdf.txt or NAME.docx.txt is the source of NAME.pdf / NAME.docx, generated at every
run (fpdf2 with a fixed creation date, python-docx: "# "/"## " lines become headings, lines
"| a | b |" rows of a table, "- " lines and runs of other lines paragraphs). Generation is
deterministic in the text it yields, which is all search sees. Every file then takes the
server's path: the bounded parser (BoundedParser.extract_text, a child process under the
default ParseLimits), chunking at the server's default static strategy (800 tokens, 400
overlap), and one SearchIndex with one store holding every document, as an app attaches one
vector store. The index is small (seconds to build), so it is built afresh in a temporary
directory at every run.

Questions: retrieval_mixed_data/questions.json: id, split, doc_kind (text, pdf, docx, code),
file (the source file's name as uploaded), question (a user's words, paraphrasing, never a
copied sentence), answer (a short string of the source; a hit is relevant when it is from that
file and holds it, checked for every question before searching) and kind ("lexical": shares a
rare word with its passage, "semantic": mostly matched by meaning), judged when written.

Queries, per question:
  - "user message": the question as the user sent it;
  - "<model> query": the query the model writes when forced to call file_search: the engine's
    FILE_SEARCH tool (airlock.engine.core.offering), tool_choice {"name": "file_search"}, the
    prompt fitted as scripts/eval/tool_calls.py's run_case does, temperature 0, arguments read
    by the server's query_of. Generated once per model and cached in
    .cache/eval-retrieval-mixed/queries-<model>.json (keyed by the prompt's parts, so a change
    to the tool or the instructions regenerates them);
  - "<model> fused": [model query, user message] as one list query, as Builtins.file_search
    sends it (one query when they are equal).
Models: smollm2 (the embedded default, Registry.load(None, None)) and qwen
(Qwen2.5-Coder-0.5B-Instruct Q4_K_M from the test-model cache).

All searches are hybrid (the server's mode). recall@1/@5, MRR over the first --k hits.

--seed-flow asks only the seed tutorial's file_search question (seeds/002, the math tutor and
the GPT-2 paper) of these documents plus a stand-in for the paper, and prints where each query
ranks the paper (see seed_flow).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench"))
from _report import write_section  # noqa: E402
from _retrieval_common import check_answers, first_relevant, mrr, recall  # noqa: E402

from airlock.tools.file_search import (  # noqa: E402
    BoundedParser,
    Embedder,
    ParseLimits,
    SearchIndex,
    chunk,
)

DATA = HERE / "retrieval_mixed_data"
DOCS = DATA / "docs"
QUESTIONS = DATA / "questions.json"
CACHE = HERE.parents[1] / ".cache" / "eval-retrieval-mixed"
STORE = "vs_mixed"
CHUNK_TOKENS, CHUNK_OVERLAP = 800, 400
QWEN = "/root/.cache/airlock-test-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODELS = {"smollm2": None, "qwen": QWEN}
INSTRUCTIONS = "You are a helpful assistant."  # as tool_calls.py's run_case
DOC_KINDS = ("text", "pdf", "docx", "code")
FIXED_DATE = datetime(2024, 1, 1, tzinfo=UTC)


# -- documents -------------------------------------------------------------------------------

def _blocks(source: str):
    """("h1"|"h2"|"row"|"p", text or cells) for each non-empty line of a .pdf.txt/.docx.txt."""
    para: list[str] = []
    for line in source.splitlines() + [""]:
        s = line.strip()
        if s.startswith("- ") and para:  # a list item starts a paragraph of its own
            yield "p", " ".join(para)
            para = []
        if s and not s.startswith(("#", "|")):
            para.append(s)
            continue
        if para:
            yield "p", " ".join(para)
            para = []
        if s.startswith("## "):
            yield "h2", s[3:]
        elif s.startswith("# "):
            yield "h1", s[2:]
        elif s.startswith("|"):
            yield "row", [c.strip() for c in s.strip("|").split("|")]


def write_pdf(source: str, out: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    for kind, value in _blocks(source):
        if kind in ("h1", "h2"):
            pdf.set_font("Helvetica", "B", 14 if kind == "h1" else 12)
            pdf.multi_cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font("Helvetica", "", 11)
            text = "   ".join(value) if kind == "row" else value
            pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    pdf.output(str(out))


def write_docx(source: str, out: Path) -> None:
    import docx

    doc = docx.Document()
    doc.core_properties.created = doc.core_properties.modified = FIXED_DATE.replace(tzinfo=None)
    table = None
    for kind, value in _blocks(source):
        if kind == "row":
            if table is None:
                table = doc.add_table(rows=0, cols=len(value))
            for cell, text in zip(table.add_row().cells, value, strict=True):
                cell.text = text
            continue
        table = None
        if kind == "h1":
            doc.add_heading(value, level=1)
        elif kind == "h2":
            doc.add_heading(value, level=2)
        else:
            doc.add_paragraph(value)
    doc.save(str(out))


def materialize(out: Path, sources: list[Path]) -> list[Path]:
    """The documents as an app would upload them, in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for src in sources:
        if src.name.endswith((".pdf.txt", ".docx.txt")):
            target = out / src.name[: -len(".txt")]
            (write_pdf if target.suffix == ".pdf" else write_docx)(src.read_text(), target)
        else:
            target = out / src.name
            shutil.copyfile(src, target)
        files.append(target)
    return files


def build(root: Path, embedder: Embedder, extra: tuple[Path, ...] = ()
          ) -> tuple[SearchIndex, dict[str, int]]:
    files = materialize(root / "files", sorted(DOCS.iterdir()) + list(extra))
    parser = BoundedParser(ParseLimits())  # the server's parse path, default limits
    index = SearchIndex(root / "index", embedder)
    n_chunks = {}
    try:
        for path in files:
            doc = chunk(parser.extract_text(path, path.name), embedder.tokenizer,
                        CHUNK_TOKENS, CHUNK_OVERLAP)
            index.add_file(STORE, path.name, doc)
            n_chunks[path.name] = len(doc.ranges)
    finally:
        parser.close()
    return index, n_chunks


# -- the models' queries ---------------------------------------------------------------------

def model_queries(name: str, texts: list[str], instructions: str = INSTRUCTIONS,
                  with_code: bool = False, cache_name: str = "") -> dict[str, str]:
    """user message -> the query `name` writes when forced to call file_search (cached).
    with_code: code_interpreter is on offer too, as in the seed tutorial's assistant."""
    from airlock.engine.core.builtins import query_of
    from airlock.engine.core.offering import CODE_INTERPRETER, FILE_SEARCH

    tools = [CODE_INTERPRETER, FILE_SEARCH] if with_code else [FILE_SEARCH]
    choice = {"name": "file_search"}
    path = MODELS[name]
    model_tag = (f"{Path(path).name}:{Path(path).stat().st_size}" if path else
                 "embedded:" + _embedded_tag())
    key = hashlib.sha256(json.dumps([model_tag, instructions, tools, choice],
                                    sort_keys=True).encode()).hexdigest()[:16]
    cache_file = CACHE / f"queries-{name}{cache_name}.json"
    cached = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    if cached.get("key") != key:
        cached = {"key": key, "model": model_tag, "queries": {}}
    todo = [t for t in dict.fromkeys(texts) if t not in cached["queries"]]
    if todo:
        from airlock.engine.core.prompt import fit
        from airlock.models.backend import TurnRequest
        from airlock.models.registry import Registry

        registry = Registry.load(path, None)
        backend = registry.backend(registry.default)
        t0 = time.perf_counter()
        try:
            for i, text in enumerate(todo):
                messages, _ = fit(backend, instructions, [{"role": "user", "content": text}],
                                  budget=backend.n_ctx - 512, tools=tools, tool_choice=choice)
                request = TurnRequest(messages=messages, max_tokens=256, temperature=0.0,
                                      tools=tools, tool_choice=choice, parallel_tool_calls=False,
                                      thread_id=None)
                result = backend.generate(request, lambda _: None, lambda: False)
                arguments = result.tool_calls[0]["arguments"] if result.tool_calls else ""
                cached["queries"][text] = {"arguments": arguments,
                                           "query": query_of(arguments, text)}
                print(f"  {name} {i + 1}/{len(todo)} ({time.perf_counter() - t0:.0f} s): "
                      f"{cached['queries'][text]['query']!r}", file=sys.stderr, flush=True)
        finally:
            registry.close()
        CACHE.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(cached, indent=1, ensure_ascii=False) + "\n")
    return {t: cached["queries"][t]["query"] for t in texts}


def _embedded_tag() -> str:
    from airlock.models.registry import embedded_gguf

    p = Path(embedded_gguf())
    return f"{p.name}:{p.stat().st_size}"


def fused_query(own: str, user: str) -> str | list[str]:
    """What Builtins.file_search searches: [the model's query, the user's message]."""
    both = list(dict.fromkeys(s for s in (own, user.strip()) if s))
    return both if len(both) > 1 else own


# -- the seed tutorial -----------------------------------------------------------------------

SEED_QUESTION = "What are some cool math concepts behind this ML paper pdf? Explain in two sentences."
SEED_PAPER = DATA / "seed_flow" / "language_models_are_unsupervised_multitask_learners.pdf.txt"
SEED_INSTRUCTIONS = "You are a personal math tutor. Answer questions briefly, in a sentence or less."


def seed_flow(models: list[str]) -> None:
    """The seed tutorial's file_search step (seeds/002: the math tutor reads the GPT-2 paper and
    is asked SEED_QUESTION), with the paper in a store that holds other documents too, as an
    app's store does: where does each query rank the paper's chunks? The paper is stood in for
    by a summary in our own words (retrieval_mixed_data/seed_flow/). Each model's query is
    written twice: as in the main eval, and with the seed assistant's instructions and both
    of its built-ins (code_interpreter, file_search) on offer."""
    queries: dict[str, str | list[str]] = {"user message": SEED_QUESTION}
    for m in models:
        for how, own in (
                ("", model_queries(m, [SEED_QUESTION])[SEED_QUESTION]),
                (", as the seed's tutor", model_queries(
                    m, [SEED_QUESTION], SEED_INSTRUCTIONS, with_code=True,
                    cache_name="-seed")[SEED_QUESTION])):
            queries[f"{m} query{how}"] = own
            queries[f"{m} fused (server){how}"] = fused_query(own, SEED_QUESTION)
    paper = SEED_PAPER.name[: -len(".txt")]
    with tempfile.TemporaryDirectory(prefix="eval-retrieval-seed-") as tmp:
        index, n_chunks = build(Path(tmp), Embedder(), (SEED_PAPER,))
        try:
            print(f"{len(n_chunks)} documents, {sum(n_chunks.values())} chunks; "
                  f"question {SEED_QUESTION!r}\n")
            print("| query | as searched | rank of the paper's first chunk | top 3 files |")
            print("|---|---|---|---|")
            for label, query in queries.items():
                hits = index.search([STORE], query, k=20)
                rank = next((i + 1 for i, h in enumerate(hits) if h.file_id == paper), None)
                top = ", ".join(f"{h.file_id} ({h.score:.2f})" for h in hits[:3])
                print(f"| {label} | {json.dumps(query)} | {rank} | {top} |")
        finally:
            index.close()


# -- main ------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=20, help="hits asked for per query (MRR cut-off)")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="test",
                    help="which half to ask (default test, the reported one; tune on dev only)")
    ap.add_argument("--models", default="smollm2,qwen",
                    help="comma-separated models whose queries to test, or none")
    ap.add_argument("--misses", action="store_true", help="list each row's misses at 5")
    ap.add_argument("--write", help="update this markdown file's section for this evaluation")
    ap.add_argument("--label", help="suffix of the doc section (e.g. before), to keep tables apart")
    ap.add_argument("--seed-flow", action="store_true",
                    help="only the seed tutorial's question against these documents plus the "
                         "paper it uploads (see seed_flow)")
    ap.add_argument("--tried", help="a markdown file whose text is added to the written section "
                                    "(what was tried on the dev half)")
    args = ap.parse_args()
    command = ("python scripts/eval/retrieval_mixed.py " + shlex.join(sys.argv[1:])).strip()
    questions = [q for q in json.loads(QUESTIONS.read_text())
                 if args.split == "all" or q["split"] == args.split]
    models = [] if args.models == "none" else [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"unknown model {m!r}; known: {', '.join(MODELS)}")

    # Queries first: loading a chat model and the embedder at once would crowd the 2 cores.
    if args.seed_flow:
        seed_flow(models)
        return
    written = {m: model_queries(m, [q["question"] for q in questions]) for m in models}

    embedder = Embedder()
    with tempfile.TemporaryDirectory(prefix="eval-retrieval-mixed-") as tmp:
        t0 = time.perf_counter()
        index, n_chunks = build(Path(tmp), embedder)
        build_seconds = time.perf_counter() - t0
        try:
            check_answers(questions, {f: index.chunks(STORE, f) for f in n_chunks})
            rows: dict[str, list[int | None]] = {}
            shown: dict[str, list[str]] = {}

            def run(label: str, queries: list[str | list[str]]) -> None:
                rows[label] = [first_relevant(index.search([STORE], query, k=args.k), q)
                               for query, q in zip(queries, questions, strict=True)]
                shown[label] = [json.dumps(query, ensure_ascii=False) for query in queries]

            run("user message", [q["question"] for q in questions])
            for m in models:
                own = [written[m][q["question"]] for q in questions]
                run(f"{m} query", own)
                run(f"{m} fused (server)",
                    [fused_query(query, q["question"]) for query, q in zip(own, questions,
                                                                          strict=True)])
        finally:
            index.close()

    n_lex = sum(q["kind"] == "lexical" for q in questions)
    by_kind = {k: sum(q["doc_kind"] == k for q in questions) for k in DOC_KINDS}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"**{args.split} half** ({'every question' if args.split == 'all' else 'split field'} "
        f"of retrieval_mixed_data/questions.json): {len(questions)} questions "
        f"({n_lex} lexical, {len(questions) - n_lex} semantic; "
        + ", ".join(f"{n} {k}" for k, n in by_kind.items())
        + f") over {len(n_chunks)} documents ({sum(n_chunks.values())} chunks of "
        f"{CHUNK_TOKENS} tokens with {CHUNK_OVERLAP} overlap, one store), hybrid search, "
        f"k={args.k}. Goal: recall@5 >= 0.90 for the fused search. Embedding on "
        f"{embedder.describe()}; index built in {build_seconds:.0f} s. Load: `{load}`.",
        "",
        "| query | recall@1 | recall@5 | MRR | recall@5 lexical | recall@5 semantic | "
        + " | ".join(f"recall@5 {k}" for k in DOC_KINDS) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(DOC_KINDS),
    ]
    for label, ranks in rows.items():
        def sub(pred, ranks=ranks) -> str:
            rs = [r for r, q in zip(ranks, questions, strict=True) if pred(q)]
            return f"{recall(rs, 5):.2f}" if rs else "-"
        lines.append(
            f"| {label} | {recall(ranks, 1):.2f} | {recall(ranks, 5):.2f} | {mrr(ranks):.3f} | "
            f"{sub(lambda q: q['kind'] == 'lexical')} | {sub(lambda q: q['kind'] == 'semantic')} | "
            + " | ".join(sub(lambda q, k=k: q["doc_kind"] == k) for k in DOC_KINDS) + " |")
    text = "\n".join(lines)
    print(f"`{command}`\n")
    print(text)
    if args.misses:
        for label, ranks in rows.items():
            missed = [f"{q['id']} (rank {r}): {s}" for q, r, s
                      in zip(questions, ranks, shown[label], strict=True) if not r or r > 5]
            print(f"\n{label} misses at 5:" + "".join(f"\n  {m}" for m in missed))
    if args.write:
        name = "retrieval-mixed" + ("" if args.split == "test" else f"-{args.split}")
        title = f"file_search retrieval quality, mixed documents ({args.split} half"
        if args.label:
            name, title = f"{name}-{args.label}", f"{title}, {args.label}"
        if args.tried:
            text += "\n\n" + Path(args.tried).read_text().strip()
        write_section(Path(args.write), name, title + ")", text, 1, command)


if __name__ == "__main__":
    main()
