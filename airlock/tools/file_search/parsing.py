"""Text extraction for file_search: one extractor per supported file type.

The type comes from the uploaded filename's extension (the stored blob has no meaningful
name). Every failure caused by the file's content surfaces as FileRejected, so the caller
can mark the vector store file failed with a readable last_error instead of crashing.

These parsers trust their input to be of reasonable size: a few hundred KB of zipped XML can
need gigabytes of them. The server never calls them directly; `sandboxed.BoundedParser` runs
them in a child process with memory and time limits, after cheap pre-checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docx.oxml.table import CT_Tc

TEXT_EXTENSIONS = frozenset({
    ".txt", ".md", ".py", ".js", ".ts", ".java", ".c", ".cpp", ".cs", ".go", ".rb",
    ".php", ".sh", ".css", ".tex",
})
SUPPORTED_EXTENSIONS: frozenset[str] = TEXT_EXTENSIONS | {
    ".html", ".htm", ".json", ".pdf", ".docx", ".pptx",
}


class FileRejected(Exception):
    """A file that cannot be indexed. code is "unsupported_file" or "invalid_file"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(filename: str, problem: str) -> FileRejected:
    return FileRejected("invalid_file", f"{filename}: {problem}")


MB = 1 << 20


def human_size(n: int) -> str:
    """Sizes in messages: "60 KB", "2.5 MB", "172 MB" (binary units, as the MB settings)."""
    if n < MB:
        return f"{max(1, round(n / 1024))} KB"
    mb = n / MB
    return f"{mb:.1f}".removesuffix(".0") + " MB" if mb < 10 else f"{mb:.0f} MB"


def too_much_text(filename: str, max_bytes: int) -> FileRejected:
    return _invalid(filename, f"its text is over the {human_size(max_bytes)} limit for "
                              "extracted text")


def _brief(exc: BaseException) -> str:
    # Library errors can be long (whole XML paths, byte dumps); last_error should stay readable.
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _decode(data: bytes, filename: str) -> str:
    # utf-8-sig also reads plain UTF-8; it only drops a leading BOM.
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid(filename, "is not valid UTF-8 text") from None
    if "\x00" in text:
        # Valid UTF-8 can still be binary (NUL bytes never occur in real text files).
        raise _invalid(filename, "looks like binary data, not text")
    return text


def _text(path: Path, filename: str, max_bytes: int | None) -> str:
    return _decode(path.read_bytes(), filename)


def _json(path: Path, filename: str, max_bytes: int | None) -> str:
    text = _decode(path.read_bytes(), filename)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise _invalid(filename, f"is not valid JSON ({_brief(e)})") from None
    return json.dumps(value, indent=2, ensure_ascii=False)


_HTML_DROP = ("script", "style", "noscript", "template")
_HTML_BLOCKS = (
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "table", "title", "tr", "ul",
)


def _html(path: Path, filename: str, max_bytes: int | None) -> str:
    from bs4 import BeautifulSoup, NavigableString, UnicodeDammit

    data = path.read_bytes()
    try:
        markup = _decode(data, filename)
    except FileRejected:
        # Legacy pages declare their charset; trust a declaration, never a guess on garbage.
        declared = UnicodeDammit(data, is_html=True).declared_html_encoding
        if not declared:
            raise
        try:
            markup = data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            raise _invalid(filename, f"is not valid {declared} text") from None
    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    # As a browser renders it: source line breaks inside a paragraph are plain spaces.
    # Exact type check: Comment and Doctype subclass NavigableString, and replacing them
    # with a plain string would make them visible text.
    for node in soup.find_all(string=True):
        if type(node) is NavigableString and node.find_parent("pre") is None:
            node.replace_with(_ANY_SPACE.sub(" ", node))
    # Without explicit breaks, get_text() runs adjacent block elements into one line.
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    for tag in soup.find_all(("td", "th")):
        tag.insert_after("\t")
    return soup.get_text()


def _pdf(path: Path, filename: str, max_bytes: int | None) -> str:
    from pypdf import PdfReader

    reader = PdfReader(path)
    if reader.is_encrypted and not reader.decrypt(""):
        raise _invalid(filename, "is an encrypted PDF")
    pages: list[str] = []
    chars = 0
    for page in reader.pages:
        text = (page.extract_text() or "").strip()
        chars += len(text)
        # Characters never outnumber UTF-8 bytes: past the cap in characters is past it.
        if max_bytes is not None and chars > max_bytes:
            raise too_much_text(filename, max_bytes)
        if text:
            pages.append(text)
    return "\n\n".join(pages)


def _docx_blocks(container) -> list[str]:
    from docx.table import Table

    out: list[str] = []
    for block in container.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                seen: list[CT_Tc] = []
                for cell in row.cells:
                    # A merged cell is returned once per grid column it spans.
                    if any(cell._tc is tc for tc in seen):
                        continue
                    seen.append(cell._tc)
                    text = "\n".join(_docx_blocks(cell)).strip()
                    if text:
                        cells.append(text)
                if cells:
                    out.append(" | ".join(cells))
        elif block.text.strip():
            out.append(block.text)
    return out


def _docx(path: Path, filename: str, max_bytes: int | None) -> str:
    import docx

    return "\n".join(_docx_blocks(docx.Document(str(path))))


def _pptx_shape_texts(shapes) -> list[str]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    out: list[str] = []
    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            out.extend(_pptx_shape_texts(shape.shapes))
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                cells = [c.text_frame.text.strip() for c in row.cells]
                if any(cells):
                    out.append(" | ".join(c for c in cells if c))
        elif shape.has_text_frame and shape.text_frame.text.strip():
            out.append(shape.text_frame.text)
    return out


def _pptx(path: Path, filename: str, max_bytes: int | None) -> str:
    from pptx import Presentation

    slides = ["\n".join(_pptx_shape_texts(slide.shapes)) for slide in Presentation(str(path)).slides]
    return "\n\n".join(s for s in slides if s.strip())


_EXTRACTORS: dict[str, tuple[str, Callable[[Path, str, int | None], str]]] = {
    **{ext: ("text", _text) for ext in TEXT_EXTENSIONS},
    ".json": ("JSON", _json),
    ".html": ("HTML", _html),
    ".htm": ("HTML", _html),
    ".pdf": ("PDF", _pdf),
    ".docx": ("Word (.docx)", _docx),
    ".pptx": ("PowerPoint (.pptx)", _pptx),
}

_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACE_RUNS = re.compile(r"[ \t\f\v\u00a0]+")
_ANY_SPACE = re.compile(r"\s+")


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = (_SPACE_RUNS.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def check_supported(filename: str) -> None:
    """Raises FileRejected("unsupported_file") unless `filename`'s extension has a parser."""
    ext = Path(filename).suffix.lower()
    if ext not in _EXTRACTORS:
        what = f"of type '{ext}'" if ext else "without an extension"
        raise FileRejected(
            "unsupported_file",
            f"{filename}: files {what} are not supported for file_search. "
            f"Supported types: {', '.join(sorted(SUPPORTED_EXTENSIONS))}.")


def _peak_address_space() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _out_of_memory(exc: Exception, limit: int | None) -> bool:
    if isinstance(exc, MemoryError) or "memory allocation failed" in str(exc).lower():
        return True
    # lxml mostly reports libxml2's failed mallocs as "unknown error": under an address-space
    # limit, a failure after the process's peak reached the limit is taken for one.
    peak = _peak_address_space() if limit is not None else None
    return limit is not None and peak is not None and peak >= limit - max(16 * MB, limit // 20)


def extract_text(path: Path, filename: str, max_text_bytes: int | None = None,
                 memory_limit_bytes: int | None = None) -> str:
    """The text of the file at `path`, typed by `filename`'s extension, in this process and
    without limits (see the module docstring): for trusted files, or inside the child.

    Raises FileRejected("unsupported_file") for an extension outside SUPPORTED_EXTENSIONS and
    FileRejected("invalid_file") for content that is corrupt, undecodable or has no text, or
    whose text is over `max_text_bytes` of UTF-8. OSError for a missing or unreadable `path`
    propagates: that is the server's fault, not the file's. So does MemoryError, also for
    the allocation failures lxml reports as syntax errors: when this process runs under an
    address-space limit (RLIMIT_AS), `memory_limit_bytes` says which, and a parser failure
    after the process's peak reached it raises MemoryError too. The caller knows its limit.
    """
    check_supported(filename)
    ext = Path(filename).suffix.lower()
    kind, extractor = _EXTRACTORS[ext]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"stored file missing: {path}")
    try:
        text = extractor(path, filename, max_text_bytes)
    except FileRejected:
        raise
    except Exception as e:  # noqa: BLE001 - parsers raise anything on hostile input
        if isinstance(e, OSError) and not path.is_file():
            raise
        if _out_of_memory(e, memory_limit_bytes):
            raise MemoryError from None
        if type(e).__name__ == "LimitReachedError":  # pypdf's guards against hostile PDFs
            raise _invalid(filename, "the PDF reader stopped at one of its safety limits "
                                     f"({_brief(e)})") from None
        raise _invalid(filename, f"could not be read as {kind} ({_brief(e)})") from None
    # Markup formats are tidied; source code keeps its indentation.
    if kind not in ("text", "JSON"):
        text = _tidy(text)
    if not text.strip():
        detail = " (a scanned PDF without a text layer?)" if ext == ".pdf" else ""
        raise _invalid(filename, f"contains no extractable text{detail}")
    if max_text_bytes is not None and len(text.encode()) > max_text_bytes:
        raise too_much_text(filename, max_text_bytes)
    return text
