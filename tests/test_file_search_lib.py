"""The file_search library on its own: parsers, chunking, and the hybrid index with the
real embedding model (loaded once for the module)."""

from __future__ import annotations

import io
import random
import threading
import zipfile
from pathlib import Path

import pytest

from airlock.tools.file_search import (
    SUPPORTED_EXTENSIONS,
    Embedder,
    FileRejected,
    SearchIndex,
    extract_text,
    split,
)
from airlock.tools.file_search.index import collection_name

# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder):
    """One index for the tests that only need isolation by store id (opening one costs ~1 s)."""
    idx = SearchIndex(tmp_path_factory.mktemp("index"), embedder)
    yield idx
    idx.close()


@pytest.fixture(autouse=True)
def chroma_default_embedding_trap(monkeypatch):
    """Chroma's default embedding function downloads an ONNX model: it must never run."""
    from chromadb.api.types import DefaultEmbeddingFunction
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    calls: list[str] = []

    def trap(self, *args, **kwargs):
        calls.append(type(self).__name__)
        raise AssertionError("Chroma's default embedding function was invoked")

    monkeypatch.setattr(DefaultEmbeddingFunction, "__call__", trap)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", trap)
    yield
    # Chroma could swallow the AssertionError; the record cannot be swallowed.
    assert calls == []


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / "blob"  # stored files have no meaningful name; the type comes from `name`
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rejected(path: Path, name: str) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        extract_text(path, name)
    return info.value


# -- parsing -------------------------------------------------------------------------------


def test_supported_extensions():
    assert SUPPORTED_EXTENSIONS == {
        ".txt", ".md", ".html", ".htm", ".json", ".pdf", ".docx", ".pptx", ".py", ".js", ".ts",
        ".java", ".c", ".cpp", ".cs", ".go", ".rb", ".php", ".sh", ".css", ".tex"}


@pytest.mark.parametrize("name", ["notes.txt", "README.md", "main.py", "paper.tex", "NOTES.TXT"])
def test_text_files_read_verbatim(tmp_path, name):
    body = "def f():\n    return 'héllo'  # keeps indentation\n"
    assert extract_text(write(tmp_path, name, body), name) == body


def test_utf8_bom_is_dropped(tmp_path):
    assert extract_text(write(tmp_path, "a.txt", b"\xef\xbb\xbfhello"), "a.txt") == "hello"


def test_json_is_pretty_printed(tmp_path):
    text = extract_text(write(tmp_path, "d.json", '{"name":"Zoë","items":[1,2]}'), "d.json")
    assert '"name": "Zoë"' in text
    assert text.count("\n") >= 4


def test_html_text_without_script_or_style(tmp_path):
    html = """<!DOCTYPE html><html><head><title>Quarterly report</title>
    <style>body { color: red }</style><script>var secret = "leaked-token";</script></head>
    <body><h1>Results</h1><p>Revenue   grew
       by 12%</p><p>Costs fell.</p><!-- internal comment --><ul><li>North</li><li>South</li></ul>
    <noscript>enable javascript</noscript></body></html>"""
    text = extract_text(write(tmp_path, "r.html", html), "r.html")
    for gone in ("leaked-token", "color", "internal comment", "javascript", "DOCTYPE"):
        assert gone not in text
    lines = text.split("\n")
    for line in ("Quarterly report", "Results", "Revenue grew by 12%", "Costs fell.", "North", "South"):
        assert line in lines
    assert "\n\n\n" not in text and lines == [ln.strip() for ln in lines]


def test_htm_is_html(tmp_path):
    assert extract_text(write(tmp_path, "x.htm", "<p>a</p><script>b()</script>"), "x.HTM") == "a"


def make_pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text=text)
        else:
            pdf.rect(20, 20, 50, 50)  # a page with a drawing and no text layer
    pdf.output(str(path))
    return path


def test_pdf_pages_in_order(tmp_path):
    path = make_pdf(tmp_path / "blob", ["The first page talks about apples.",
                                        "The second page talks about pears."])
    text = extract_text(path, "fruit.pdf")
    first, second = text.index("apples"), text.index("pears")
    assert first < second
    assert "\n\n" in text[first:second]


def test_pdf_without_text_is_invalid(tmp_path):
    err = rejected(make_pdf(tmp_path / "blob", [""]), "scan.pdf")
    assert err.code == "invalid_file" and "scan.pdf" in err.message


def test_docx_paragraphs_and_tables(tmp_path):
    import docx

    doc = docx.Document()
    doc.add_paragraph("Introduction to the warranty terms.")
    table = doc.add_table(rows=2, cols=2)
    for r, c, value in ((0, 0, "Model"), (0, 1, "Years"), (1, 0, "Z-100"), (1, 1, "five")):
        table.cell(r, c).text = value
    merged = doc.add_table(rows=1, cols=3)
    merged.cell(0, 0).merge(merged.cell(0, 2)).text = "Spanning note"
    doc.add_paragraph("Closing remarks.")
    path = tmp_path / "blob"
    doc.save(str(path))
    text = extract_text(path, "terms.docx")
    positions = [text.index(s) for s in ("Introduction", "Model", "Years", "Z-100", "five",
                                         "Spanning note", "Closing")]
    assert positions == sorted(positions)
    assert text.count("Spanning note") == 1  # a merged cell is listed once per grid column


def test_pptx_slides_in_order(tmp_path):
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for title, body in (("Roadmap", "Ship the beta in spring."), ("Budget", "Hire two engineers.")):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    box = prs.slides[1].shapes.add_textbox(Inches(1), Inches(5), Inches(4), Inches(1))
    box.text_frame.text = "Footnote on the second slide."
    path = tmp_path / "blob"
    prs.save(str(path))
    text = extract_text(path, "deck.pptx")
    positions = [text.index(s) for s in ("Roadmap", "beta", "Budget", "engineers", "Footnote")]
    assert positions == sorted(positions)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("name,data", [
    ("a.pdf", b"this is not a pdf at all"),
    ("a.pdf", b"%PDF-1.7\n\x00\x01garbage"),
    ("a.docx", b"not a zip"),
    ("a.docx", zip_bytes({"hello.txt": b"zip, but not a Word document"})),
    ("a.pptx", b"\x00\x01\x02\x03"),
    ("a.pptx", zip_bytes({"[Content_Types].xml": b"<broken"})),
    ("a.txt", b"\xff\xfe\xfa\x80 binary"),
    ("a.txt", b"valid utf-8 but \x00 binary"),
    ("a.txt", b"   \n\t  "),
    ("a.md", b""),
    ("a.json", b'{"unterminated": '),
    ("a.html", b"<script>only()</script><style>p{}</style>"),
    ("a.html", b"\xff\xfe\xfa\x80<p>no charset declared</p>"),
])
def test_broken_files_are_invalid(tmp_path, name, data):
    err = rejected(write(tmp_path, name, data), name)
    assert err.code == "invalid_file"
    assert name in err.message and err.message == str(err)


@pytest.mark.parametrize("name", ["setup.exe", "README", "archive.tar.gz", "photo.png", "data.csv"])
def test_unknown_extension_is_unsupported(tmp_path, name):
    err = rejected(write(tmp_path, name, "some text"), name)
    assert err.code == "unsupported_file"
    assert name in err.message


def test_missing_stored_file_is_not_blamed_on_the_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        extract_text(tmp_path / "nope", "a.txt")


# -- chunking ------------------------------------------------------------------------------

# Each is a single word piece for the MiniLM tokenizer, so word positions are token positions.
WORDS = ("river mountain contract payment house light engine system report garden "
         "window table market school doctor music summer winter bridge forest").split()


def single_piece_words(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(WORDS) for _ in range(n)]


def test_words_are_single_pieces(embedder):
    for w in WORDS:
        assert len(embedder.tokenizer(w, add_special_tokens=False)["input_ids"]) == 1, w


@pytest.mark.parametrize("n,max_tokens,overlap,expected_starts", [
    (100, 50, 10, [0, 40, 80]),
    (90, 50, 10, [0, 40]),        # the window at 80 would lie inside the one at 40
    (50, 50, 10, [0]),
    (7, 50, 0, [0]),
    (101, 25, 0, [0, 25, 50, 75, 100]),
])
def test_split_windows(embedder, n, max_tokens, overlap, expected_starts):
    words = single_piece_words(n)
    chunks = split(" ".join(words), embedder.tokenizer, max_tokens, overlap)
    assert chunks == [" ".join(words[s:s + max_tokens]) for s in expected_starts]


def test_split_is_verbatim(embedder):
    text = "Café  DÉJÀ-VU\n\n\tIndented line;   odd   spacing.\r\n" * 40
    chunks = split(text, embedder.tokenizer, 30, 5)
    assert len(chunks) > 3
    pos = 0
    for chunk in chunks:
        found = text.find(chunk, pos)
        assert found >= 0, chunk  # a substring of the source, with case, accents and spacing
        pos = found + 1
    assert text.rstrip().endswith(chunks[-1])
    assert "Café  DÉJÀ-VU\n\n\tIndented" in chunks[0]


def test_split_empty_and_invalid(embedder):
    assert split("", embedder.tokenizer, 10, 2) == []
    assert split("  \n\t ", embedder.tokenizer, 10, 2) == []
    assert split("  just this  ", embedder.tokenizer, 10, 2) == ["just this"]
    with pytest.raises(ValueError):
        split("text", embedder.tokenizer, 10, 10)
    with pytest.raises(ValueError):
        split("text", embedder.tokenizer, 0, 0)


def test_split_tokenizes_a_long_document_once(embedder):
    calls = []

    class Counting:
        def __call__(self, *args, **kwargs):
            calls.append(1)
            return embedder.tokenizer(*args, **kwargs)

    words = single_piece_words(200_000, seed=3)  # about a 500-page document
    chunks = split(" ".join(words), Counting(), 800, 400)
    assert calls == [1]
    assert len(chunks) == 499
    assert chunks[-1].split() == words[-800:]


# -- index ---------------------------------------------------------------------------------

FILLER = ("The community garden committee met on Tuesday to discuss compost bins, watering "
          "schedules, seed swaps and the allocation of raised beds for the spring season. ")
UNRELATED = [
    "The cafeteria serves soup on Mondays and fish on Fridays.",
    "Our football team won the regional championship last autumn.",
    "Tomorrow will be sunny with a light breeze from the west.",
    "The library extended its opening hours during the exam period.",
]


def ids(hits) -> list[tuple[str, int]]:
    return [(h.file_id, h.chunk_index) for h in hits]


def test_fact_at_end_of_long_chunk_is_found_by_vector_search(index, embedder):
    fact = "The emergency shutdown code for the Helios reactor is kept in the blue binder in room 4."
    chunks = split(FILLER * 24 + fact, embedder.tokenizer, 800, 400)
    assert len(chunks) == 1 and chunks[0].endswith(fact)
    assert len(embedder.tokenizer(chunks[0], add_special_tokens=False)["input_ids"]) > 2 * embedder.window
    index.add_file("vs_long", "file-long", chunks)
    index.add_file("vs_long", "file-other", UNRELATED)
    hits = index.search(["vs_long"], "Where is the emergency shutdown code for the Helios reactor kept?",
                        k=5, mode="vector")
    assert ids(hits)[0] == ("file-long", 0)
    assert hits[0].text == chunks[0]


PART_TARGET = ["Order form for replacement parts. Please quote the part number XQ-7731 when "
               "ordering the hinge assembly for the cabinet door."]
PART_DISTRACTORS = [
    "Inventory note: the QX-7713 bracket is out of stock until May.",
    "The XR-7730 gasket fits models from 2019 onward.",
    "Part ZQ-1177 is a hinge pin for the older cabinet series.",
    "Part number lookup: XV-7371 identifies the door latch.",
    "Cabinet door hinges wear out after about ten years of daily use.",
    "Replacement hinge assemblies ship within three business days.",
]


@pytest.fixture(scope="module")
def parts_store(index):
    index.add_file("vs_parts", "file-target", PART_TARGET)
    index.add_file("vs_parts", "file-codes", PART_DISTRACTORS)
    return "vs_parts"


def test_hybrid_finds_exact_rare_keyword(index, parts_store):
    vector = ids(index.search([parts_store], "XQ-7731", k=10, mode="vector"))
    assert vector.index(("file-target", 0)) > 0  # the embedding alone prefers look-alike codes
    assert ids(index.search([parts_store], "XQ-7731", k=10, mode="keyword"))[0] == ("file-target", 0)
    assert ids(index.search([parts_store], "XQ-7731", k=10))[0] == ("file-target", 0)


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_scores_are_normalized_rrf(index, parts_store, mode):
    hits = index.search([parts_store], ["replacement hinge assembly", "cabinet door"], k=10, mode=mode)
    assert hits
    scores = [h.score for h in hits]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    # Single-retriever mode with one query: rank r scores 61 / (60 + r).
    single = index.search([parts_store], "hinge", k=10, mode=mode)
    if mode != "hybrid":
        assert [h.score for h in single] == pytest.approx([61 / (60 + r) for r in range(1, len(single) + 1)])


def test_score_is_one_when_every_retriever_ranks_first(index, embedder):
    index.add_file("vs_agree", "f", ["Penguins are flightless birds living in Antarctica.",
                                     "Quarterly tax filings are due in April."])
    hits = index.search(["vs_agree"], "flightless penguins Antarctica", k=2)
    assert ids(hits)[0] == ("f", 0)
    assert hits[0].score == pytest.approx(1.0)
    assert hits[1].score < 0.5 + 1e-9  # found by the vector retriever only


def test_query_list_is_fused(index):
    index.add_file("vs_multi", "f", ["Penguins are flightless birds living in Antarctica.",
                                     "Quarterly tax filings are due in April.",
                                     "The bakery opens at six with fresh croissants."])
    hits = index.search(["vs_multi"], ["penguins in Antarctica", "tax filing deadline"], k=2)
    assert set(ids(hits)) == {("f", 0), ("f", 1)}


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_file_ids_restrict_before_truncation(index, parts_store, mode):
    hits = index.search([parts_store], "XQ-7731 hinge", k=1, file_ids={"file-codes"}, mode=mode)
    assert len(hits) == 1 and hits[0].file_id == "file-codes"
    hits = index.search([parts_store], "XQ-7731 hinge", k=10, file_ids=["file-target"], mode=mode)
    assert ids(hits) == [("file-target", 0)]
    assert index.search([parts_store], "XQ-7731", k=10, file_ids=set(), mode=mode) == []
    assert index.search([parts_store], "XQ-7731", k=10, file_ids={"file-nope"}, mode=mode) == []


@pytest.mark.parametrize("query", [
    '"AND OR NEAR( * ^', 'foo" OR "bar', "NOT", "-", "*", "text:hinge", "hinge AND", "(((",
    "'; DROP TABLE chunks; --", "\ud800 lone surrogate", "nul\x00byte", "", "   ", "^ $ {} [] ~",
])
def test_hostile_queries_do_not_raise(index, parts_store, query):
    before = index.count(parts_store)
    for mode in ("hybrid", "vector", "keyword"):
        hits = index.search([parts_store], query, k=5, mode=mode)
        assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert index.count(parts_store) == before


def test_unknown_and_empty_stores(index, parts_store):
    for mode in ("hybrid", "vector", "keyword"):
        assert index.search(["vs_never_created"], "hinge", mode=mode) == []
        assert index.search([], "hinge", mode=mode) == []
    with pytest.raises(ValueError):
        index.search([parts_store], "hinge", mode="semantic")


def test_search_across_stores(index, parts_store):
    index.add_file("vs_second", "file-manual", ["Lubricate the cabinet door hinge once a year."])
    hits = index.search([parts_store, "vs_second"], "cabinet door hinge", k=10)
    assert {h.store_id for h in hits} == {parts_store, "vs_second"}
    assert ("file-manual", 0) in ids(hits)
    assert all(h.store_id == "vs_second" for h in hits if h.file_id == "file-manual")


def test_add_file_replaces_and_reports_progress(index):
    progress = []
    chunks = [f"Tiny note number {i} about {WORDS[i % len(WORDS)]}." for i in range(40)]
    index.add_file("vs_replace", "f", chunks, on_progress=lambda d, t: progress.append((d, t)))
    assert len(progress) >= 2  # 40 one-window chunks span two embedding batches
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert progress[-1] == (40, 40) and {t for _, t in progress} == {40}
    assert index.chunks("vs_replace", "f") == chunks

    index.add_file("vs_replace", "f", ["Completely new content about volcanoes."])
    assert index.chunks("vs_replace", "f") == ["Completely new content about volcanoes."]
    assert index.count("vs_replace") == 1
    assert index.search(["vs_replace"], "Tiny note", mode="keyword") == []
    assert ids(index.search(["vs_replace"], "volcano eruption", k=5, mode="vector")) == [("f", 0)]


def test_delete_file_and_store(index):
    index.add_file("vs_del", "a", ["Alpacas produce soft wool.", "Alpacas hum when content."])
    index.add_file("vs_del", "b", ["Bees make honey from nectar."])
    assert index.count("vs_del") == 3

    index.delete_file("vs_del", "a")
    index.delete_file("vs_del", "a")  # idempotent
    assert index.chunks("vs_del", "a") == [] and index.count("vs_del") == 1
    for mode in ("hybrid", "vector", "keyword"):
        assert {h.file_id for h in index.search(["vs_del"], "alpaca wool", k=10, mode=mode)} <= {"b"}

    total = index.count()
    index.delete_store("vs_del")
    index.delete_store("vs_del")
    index.delete_store("vs_never_created")
    assert index.count("vs_del") == 0 and index.count() == total - 1
    for mode in ("hybrid", "vector", "keyword"):
        assert index.search(["vs_del"], "bees honey", mode=mode) == []

    index.add_file("vs_del", "c", ["Camels store fat in their humps."])  # the store can come back
    assert ids(index.search(["vs_del"], "camel humps", mode="vector")) == [("c", 0)]


def test_reopen_keeps_everything(tmp_path, embedder):
    idx = SearchIndex(tmp_path / "idx", embedder)
    idx.add_file("vs_persist", "f", ["Otters hold hands while sleeping.", "Granite is an igneous rock."])
    idx.close()
    idx.close()  # idempotent

    idx = SearchIndex(tmp_path / "idx", embedder)
    try:
        assert idx.count() == 2
        assert idx.chunks("vs_persist", "f")[1] == "Granite is an igneous rock."
        assert ids(idx.search(["vs_persist"], "sleeping sea otters", k=1, mode="vector")) == [("f", 0)]
        assert ids(idx.search(["vs_persist"], "granite", k=1, mode="keyword")) == [("f", 1)]
    finally:
        idx.close()


def test_chroma_collections_have_no_embedding_function(index, parts_store):
    col = index._collection(parts_store, create=False)
    assert col.configuration.get("embedding_function") is None
    with pytest.raises(ValueError, match="embedding function"):
        col.query(query_texts=["hinge"], n_results=1)


@pytest.mark.parametrize("store_id", ["vs_trailing_", "weird id/ü", "ab", "1.1.1.1"])
def test_any_store_id_gets_a_valid_collection(index, store_id):
    index.add_file(store_id, "f", ["Lighthouses guide ships at night."])
    assert ids(index.search([store_id], "lighthouse ships", mode="vector")) == [("f", 0)]
    assert collection_name(store_id) != collection_name(store_id + "x")


def test_concurrent_ingestion_and_search(index):
    index.add_file("vs_busy", "stable", ["Glaciers carve valleys over thousands of years."])
    errors: list[BaseException] = []

    def ingest():
        try:
            for i in range(4):
                index.add_file("vs_busy", f"churn-{i % 2}", [f"Churning note {i} about deserts."])
                index.delete_file("vs_busy", "churn-0")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    worker = threading.Thread(target=ingest)
    worker.start()
    while worker.is_alive():
        hits = index.search(["vs_busy"], "glacier valleys", k=3)
        assert ("stable", 0) in ids(hits)
    worker.join()
    assert errors == []
    assert index.chunks("vs_busy", "churn-1") == ["Churning note 3 about deserts."]


def test_keyword_retriever_drops_words_too_common_to_rank(tmp_path, monkeypatch):
    from airlock.tools.file_search import keywords

    monkeypatch.setattr(keywords, "FREQUENT_TERM_CHUNKS", 5)
    kw = keywords.KeywordIndex(tmp_path / "k.sqlite3")
    try:
        kw.replace_file("big", "f", [f"common filler {i}" for i in range(9)] + ["common rare"])
        kw.replace_file("small", "f", ["common here", "nothing"])
        # In the big store "common" is in 10 chunks > 5: only "rare" ranks.
        assert kw.search(["big"], "common rare", 50) == [("big", "f", 9)]
        assert kw.search(["big"], "common", 50) == []
        assert len(kw.search(["big"], "common-filler", 50)) == 9  # a phrase is kept
        assert kw.search(["small"], "common", 50) == [("small", "f", 0)]
    finally:
        kw.close()
