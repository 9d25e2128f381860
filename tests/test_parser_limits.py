"""Hostile files for file_search: parsing runs with bounded memory and time.

Each bomb is built here (3 MB at most), uploaded through the API to a vector store
on a scripted-model server, and must end `failed` with `invalid_file` and a message naming the
limit it hit, quickly, while the server's own memory stays flat; normal files ingest after it.
The pre-checks and the child process are also tested on their own, without a server.
"""

from __future__ import annotations

import io
import random
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from airlock.tools.file_search import FileRejected
from airlock.tools.file_search.sandboxed import BoundedParser, ParseLimits, precheck
from fs_helpers import docx_bytes, pptx_bytes

MB = 1 << 20
# The test server's limits: a short timeout keeps the slow bombs fast; a small text cap makes a
# few MB of text too much.
SERVER_ENV = {"AIRLOCK_PARSE_TIMEOUT_S": "6", "AIRLOCK_PARSE_MAX_TEXT_MB": "2"}
# A bomb must end within this (upload to `failed`), and the server's RSS may grow by at most
# RSS_SLACK_MB meanwhile (before the fix: +650 MB for the 18 MB docx, +3.8 GB for the 180 MB one).
BOMB_DEADLINE_S = 30.0
RSS_SLACK_MB = 120

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


# -- documents ---------------------------------------------------------------------------------


def normal_pdf(text: str, pages: int = 1) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for _ in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


Chunks = Callable[[], Iterator[bytes]]


def rezip(base: bytes, replace: dict[str, Chunks] | None = None,
          add: dict[str, Chunks] | None = None) -> bytes:
    """`base` (a .docx/.pptx) with members replaced or added, each written as a stream so a
    member of hundreds of MB never sits in this process's memory."""
    replace, add = replace or {}, add or {}
    src = zipfile.ZipFile(io.BytesIO(base))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in src.infolist():
            if info.filename in replace:
                with z.open(info.filename, "w", force_zip64=True) as w:
                    for chunk in replace[info.filename]():
                        w.write(chunk)
            else:
                z.writestr(info.filename, src.read(info.filename))
        for name, chunks in add.items():
            with z.open(name, "w", force_zip64=True) as w:
                for chunk in chunks():
                    w.write(chunk)
    return out.getvalue()


def repeated(head: bytes, unit: bytes, count: int, tail: bytes) -> Chunks:
    def chunks() -> Iterator[bytes]:
        yield head
        block = unit * 100_000
        for _ in range(count // 100_000):
            yield block
        yield unit * (count % 100_000)
        yield tail
    return chunks


def docx_bomb(paragraphs: int) -> bytes:
    """A .docx whose word/document.xml holds `paragraphs` empty `<w:p/>` (6 bytes each)."""
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<w:document xmlns:w="' + W_NS.encode() + b'"><w:body>')
    return rezip(docx_bytes("x"), replace={"word/document.xml": repeated(
        head, b"<w:p/>", paragraphs, b"</w:body></w:document>")})


def pptx_bomb(shapes: int) -> bytes:
    """A .pptx whose first slide's XML holds `shapes` empty shapes."""
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
            b'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main">'
            b"<p:cSld><p:spTree>")
    return rezip(pptx_bytes("x"), replace={"ppt/slides/slide1.xml": repeated(
        head, b"<p:sp/>", shapes, b"</p:spTree></p:cSld></p:sld>")})


def docx_with_image_bomb(megabytes: int) -> bytes:
    """A .docx whose document links an "image" of `megabytes` MB of zeros (python-docx reads
    every linked part into memory)."""
    base = docx_bytes("The image below is large.")
    src = zipfile.ZipFile(io.BytesIO(base))
    rels = src.read("word/_rels/document.xml.rels").replace(
        b"</Relationships>",
        b'<Relationship Id="rIdBomb" Target="media/image1.png" Type="http://schemas.'
        b'openxmlformats.org/officeDocument/2006/relationships/image"/></Relationships>')
    types = src.read("[Content_Types].xml").replace(
        b"</Types>", b'<Default Extension="png" ContentType="image/png"/></Types>')
    zeros = bytes(MB)
    return rezip(base, replace={"word/_rels/document.xml.rels": lambda: iter([rels]),
                                "[Content_Types].xml": lambda: iter([types])},
                 add={"word/media/image1.png": lambda: iter([zeros] * megabytes)})


def docx_with_members(count: int) -> bytes:
    out = io.BytesIO(docx_bytes("Many members."))
    with zipfile.ZipFile(out, "a") as z:
        for i in range(count):
            z.writestr(f"customXml/item{i}.bin", b"x")
    return out.getvalue()


def raw_pdf(pages: int, content: bytes, compress: bool = False) -> bytes:
    """A PDF of `pages` pages that all draw the same content stream (one object)."""
    stream, flt = (zlib.compress(content, 9), b" /Filter /FlateDecode") if compress \
        else (content, b"")
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Length %d%s >>\nstream\n" % (len(stream), flt) + stream + b"\nendstream"]
    first = len(objs) + 1
    kids = b" ".join(b"%d 0 R" % (first + i) for i in range(pages))
    objs[1] = b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
             b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"] * pages
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % off for off in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objs) + 1, xref))
    return out.getvalue()


HELLO = b"BT /F1 12 Tf 72 720 Td (Hello pages) Tj ET"


def nested_html(depth: int) -> bytes:
    return b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>"


# -- the server --------------------------------------------------------------------------------


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class Watch:
    """The server's memory: VmHWM (peak RSS) is reset before a bomb and read after it, so a
    peak between two polls cannot be missed; VmRSS is polled too, to stop a runaway early."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline_kb = status_kb(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS

    def check(self, what: str) -> None:
        for field in ("VmRSS", "VmHWM"):
            grew = (status_kb(self.pid, field) - self.baseline_kb) / 1024
            assert grew < RSS_SLACK_MB, (
                f"{what}: the server's {field} grew {grew:.0f} MB over its baseline of "
                f"{self.baseline_kb / 1024:.0f} MB (limit {RSS_SLACK_MB} MB)")


def settle(client: openai.OpenAI, store_id: str, file_id: str, deadline_s: float,
           watch: Watch | None = None):
    """Polls the vector-store file until it leaves in_progress (or the deadline passes)."""
    deadline = time.monotonic() + deadline_s
    while True:
        vsf = client.vector_stores.files.retrieve(vector_store_id=store_id, file_id=file_id)
        if watch is not None:
            watch.check(f"ingesting {file_id}")
        if vsf.status != "in_progress":
            return vsf
        assert time.monotonic() < deadline, f"{file_id} still in_progress after {deadline_s} s"
        time.sleep(0.1)  # poll interval, bounded by the deadline above


def add(client: openai.OpenAI, store_id: str, name: str, data: bytes,
        deadline_s: float = BOMB_DEADLINE_S, watch: Watch | None = None):
    f = client.files.create(file=(name, data, "application/octet-stream"), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store_id, file_id=f.id)
    return settle(client, store_id, f.id, deadline_s, watch)


@pytest.fixture(scope="module")
def lim_server(start_server):
    return start_server("parser_limits", "--model", "scripted", env=SERVER_ENV)


@pytest.fixture(scope="module")
def lim_client(lim_server):
    c = lim_server.client()
    # Warm up: the embedding model and the parser process load before any baseline is taken.
    store = c.vector_stores.create(name="warm-up")
    vsf = add(c, store.id, "warm.docx", docx_bytes("Warm up the embedding model."), 180.0)
    assert vsf.status == "completed", vsf.last_error
    yield c
    c.close()


def assert_bombs_fail(client, server, bombs: dict[str, bytes], *needles: str) -> None:
    """Each bomb fails invalid_file, fast, naming a limit (and each of `needles`, in order of
    the bombs); the server's memory stays flat; then normal files still ingest."""
    store = client.vector_stores.create(name="bombs")
    for (name, data), needle in zip(bombs.items(), needles, strict=True):
        watch = Watch(server.proc.pid)
        started = time.monotonic()
        vsf = add(client, store.id, name, data, watch=watch)
        took = time.monotonic() - started
        watch.check(f"after {name}")
        assert vsf.status == "failed", f"{name} ended {vsf.status}"
        assert vsf.last_error is not None and vsf.last_error.code == "invalid_file", vsf.last_error
        message = vsf.last_error.message
        assert name in message and "limit" in message and needle in message, message
        assert took < BOMB_DEADLINE_S, f"{name} took {took:.1f} s"
    normal = {"after.pdf": normal_pdf("The lighthouse keeper logged 412 storms in 1911."),
              "after.docx": docx_bytes("The canteen serves barley soup on Thursdays."),
              "after.pptx": pptx_bytes("Revenue from glass marbles rose nine percent.")}
    for name, data in normal.items():
        vsf = add(client, store.id, name, data, 120.0)
        assert vsf.status == "completed", (name, vsf.last_error)
    hits = client.vector_stores.search(vector_store_id=store.id, query="barley soup canteen")
    assert hits.data and hits.data[0].filename == "after.docx"
    counts = client.vector_stores.retrieve(store.id).file_counts
    assert counts.in_progress == 0 and counts.failed == len(bombs) and counts.completed == 3


# -- through the API ---------------------------------------------------------------------------


def test_docx_bombs_fail_on_the_pre_check(lim_client, lim_server):
    # 18 MB of <w:p/> in ~60 KB (took 40 s and 650 MB in-process), and 180 MB in ~300 KB
    # (took the server to 4.3 GB).
    assert_bombs_fail(lim_client, lim_server, {
        "small-bomb.docx": docx_bomb(3_000_000),
        "big-bomb.docx": docx_bomb(30_000_000),
    }, "compression ratio",
        "word/document.xml would expand to 172 MB, over the 64 MB limit for a document's markup")


def test_pptx_and_zip_bombs_fail_on_the_pre_check(lim_client, lim_server):
    assert_bombs_fail(lim_client, lim_server, {
        "slides.pptx": pptx_bomb(5_000_000),
        "image.docx": docx_with_image_bomb(300),
        "members.docx": docx_with_members(12_000),
    }, "ppt/slides/slide1.xml", "word/media/image1.png", "12,0")


def test_pdf_html_and_text_bombs_fail_in_the_child(lim_client, lim_server):
    assert_bombs_fail(lim_client, lim_server, {
        # 100,000 pages drawing one shared content stream: well over a minute of pypdf, cut at
        # 6 s (20,000 pages parsed within 6 s on a fast, quiet machine).
        "pages.pdf": raw_pdf(100_000, HELLO),
        # One page whose content stream inflates to 120 MB (pypdf's own cap is 75 MB).
        "stream.pdf": raw_pdf(1, b"BT /F1 12 Tf 72 720 Td (Hi) Tj ET\n" + b"0 0 m\n" * 20_000_000,
                              compress=True),
        # 200,000 nested <div>: BeautifulSoup is quadratic in the depth (minutes).
        "nested.html": nested_html(200_000),
        # 3 MB of text against the test server's 2 MB cap.
        "huge.txt": b"All work and no play makes Jack a dull boy.\n" * 70_000,
    }, "6 s", "PDF", "6 s", "2 MB")


def test_content_of_a_bomb_is_bounded_too(lim_client, lim_server):
    """vector_stores.files.content parses the file again: through the same bounded path."""
    store = lim_client.vector_stores.create(name="content")
    vsf = add(lim_client, store.id, "nested.html", nested_html(200_000))
    assert vsf.status == "failed"
    watch = Watch(lim_server.proc.pid)
    started = time.monotonic()
    with lim_client.with_options(timeout=BOMB_DEADLINE_S) as c:
        page = c.vector_stores.files.content(vector_store_id=store.id, file_id=vsf.id)
    assert list(page) == []
    assert time.monotonic() - started < BOMB_DEADLINE_S
    watch.check("content of nested.html")


# -- the pre-checks, on in-memory zips ---------------------------------------------------------


LIMITS = ParseLimits()


def zip_bytes(members: dict[str, bytes], *, level: int = 9) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, data in members.items():
            z.writestr(name, data)
    out.seek(0)
    return out


def rejected(source, filename: str, limits: ParseLimits = LIMITS) -> str:
    with pytest.raises(FileRejected) as e:
        precheck(source, filename, limits)
    assert e.value.code == "invalid_file"
    assert e.value.message.startswith(filename + ": ") and "limit" in e.value.message
    return e.value.message


def test_precheck_compression_ratio():
    message = rejected(zip_bytes({"word/document.xml": b"<w:p/>" * 500_000}), "a.docx")
    assert "word/document.xml" in message and "100:1 compression ratio limit" in message
    # The same ratio below 1 MB expanded is fine: small members compress well for real.
    precheck(zip_bytes({"word/styles.xml": b"<w:p/>" * 100_000}), "a.docx", LIMITS)
    # Media bombs too, not only XML.
    message = rejected(zip_bytes({"word/media/a.png": bytes(8 * MB)}), "a.docx")
    assert "word/media/a.png" in message


def test_precheck_expanded_xml_per_member_and_in_total():
    limits = ParseLimits(max_expanded_mb=2)
    rng = random.Random(7)
    # Hard-to-compress XML: hex noise, so the ratio check stays out of the way.
    noise = lambda n: rng.randbytes(n // 2).hex().encode()  # noqa: E731
    message = rejected(zip_bytes({"word/document.xml": noise(3 * MB)}), "a.docx", limits)
    assert message == "a.docx: word/document.xml would expand to 3 MB, over the 2 MB limit " \
                      "for a document's markup", message
    message = rejected(zip_bytes({f"ppt/slides/slide{i}.xml": noise(MB // 2) for i in range(5)}),
                       "a.pptx", limits)
    assert "XML parts would expand to 2.5 MB, over the 2 MB limit" in message
    # Non-XML members (images) do not count against the XML limit...
    precheck(zip_bytes({"word/media/a.png": noise(3 * MB)}, level=1), "a.docx", limits)
    # ...but everything counts against the memory limit.
    message = rejected(zip_bytes({"word/media/a.png": noise(3 * MB)}, level=1), "a.docx",
                       ParseLimits(memory_mb=2))
    assert "more than the 2 MB memory limit" in message


def test_precheck_member_count_text_size_and_what_it_leaves_to_the_parser(tmp_path):
    message = rejected(zip_bytes({f"m{i}.xml": b"<a/>" for i in range(101)}), "a.docx",
                       ParseLimits(max_zip_members=100))
    assert "101 zip members, over the 100 limit" in message
    blob = tmp_path / "blob"
    blob.write_bytes(b"word " * (MB // 2))  # 2.5 MB
    message = rejected(blob, "notes.txt", ParseLimits(max_text_mb=2))
    assert "over the 2 MB limit for extracted text" in message
    precheck(blob, "notes.txt", LIMITS)
    # HTML is markup: its size counts against the markup limit, not the text limit.
    blob.write_bytes(b"<p>" + b"word " * (MB // 2) + b"</p>")
    precheck(blob, "page.html", ParseLimits(max_text_mb=2))
    assert "HTML" in rejected(blob, "page.html", ParseLimits(max_expanded_mb=2))
    # Not a zip at all, or a real document: the parser decides, as before.
    blob.write_bytes(b"not a zip")
    precheck(blob, "broken.docx", LIMITS)
    precheck(io.BytesIO(docx_bytes("fine")), "fine.docx", LIMITS)
    precheck(io.BytesIO(pptx_bytes("fine")), "fine.pptx", LIMITS)


# -- the child process on its own --------------------------------------------------------------


@pytest.fixture(scope="module")
def parser():
    p = BoundedParser(ParseLimits(memory_mb=400, timeout_s=4, max_compression_ratio=10_000,
                                  max_expanded_mb=512))
    yield p
    p.close()


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path


def test_child_parses_normal_files_like_the_library(parser, tmp_path):
    from airlock.tools.file_search import extract_text

    for name, data in {"a.pdf": normal_pdf("Storms were logged.", pages=3),
                       "a.docx": docx_bytes("Barley soup."),
                       "a.pptx": pptx_bytes("Glass marbles."),
                       "a.html": b"<h1>Volcano</h1><p>Ash \xc3\xa9</p>",
                       "a.json": b'{"city": "Quillport"}',
                       "a.py": b"def f():\n    return 1\n"}.items():
        path = write(tmp_path, data)
        assert parser.extract_text(path, name) == extract_text(path, name), name
    with pytest.raises(FileRejected) as e:
        parser.extract_text(write(tmp_path, b"%PDF-1.4 broken"), "broken.pdf")
    assert e.value.code == "invalid_file" and "could not be read as PDF" in e.value.message
    with pytest.raises(FileRejected) as e:
        parser.extract_text(write(tmp_path, b"BM"), "photo.bmp")
    assert e.value.code == "unsupported_file"
    with pytest.raises(FileNotFoundError):
        parser.extract_text(tmp_path / "missing", "missing.pdf")


def test_child_memory_limit(parser, tmp_path):
    # 60 MB of <w:p/> passes these pre-checks (ratio and XML limit raised) and needs ~1 GB of
    # lxml nodes: the child runs out of its 400 MB, the caller hears which limit.
    path = write(tmp_path, docx_bomb(10_000_000))
    started = time.monotonic()
    with pytest.raises(FileRejected) as e:
        parser.extract_text(path, "bomb.docx")
    assert e.value.code == "invalid_file"
    assert e.value.message.startswith("bomb.docx: ") and "400 MB memory limit" in e.value.message
    assert time.monotonic() - started < 30


def test_child_time_limit_and_text_cap(parser, tmp_path):
    started = time.monotonic()
    with pytest.raises(FileRejected) as e:
        parser.extract_text(write(tmp_path, nested_html(200_000)), "deep.html")
    took = time.monotonic() - started
    assert "4 s time limit" in e.value.message and 3.5 < took < 15, (e.value.message, took)
    small = BoundedParser(ParseLimits(max_text_mb=1))
    try:
        with pytest.raises(FileRejected) as e:
            # 1,200 pages of 1,000 characters: cut as soon as the text passes 1 MB.
            line = b"BT /F1 12 Tf 72 720 Td (" + b"word " * 200 + b") Tj ET"
            small.extract_text(write(tmp_path, raw_pdf(1_200, line)), "long.pdf")
        assert "over the 1 MB limit for extracted text" in e.value.message
    finally:
        small.close()
    # The parser keeps working after its children were killed.
    assert "Barley" in parser.extract_text(write(tmp_path, docx_bytes("Barley.")), "a.docx")
