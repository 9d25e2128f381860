"""Citations in a streamed answer: markers become file_citation annotations with exact offsets.

The model is shown sources labelled 【n:i†filename】 and asked to write those markers. Text
passes through `Citations.feed` as it streams:
- a marker naming a source becomes an annotation whose offsets slice exactly the marker, and
  whose quote is the source sentence closest to the citing one (Assistants v1 shows quotes);
- a marker naming no source, or garbled, is dropped (held back until its closing 】, so it
  never streams); other bracketed text stays;
- a small model forgets markers, so every finished sentence without one is compared with the
  sources, and the source that supports it best (most of the sentence's content words appear
  in it) is cited after the sentence. Unsupported sentences stay uncited.
Only text that will stay is emitted, so the streamed deltas always add up to the final text.
"""

from __future__ import annotations

import re

from airlock.engine.core.items import Annotation, Source

__all__ = ["Citations", "Source", "content_words", "quote_for"]

MARKER = re.compile(r"【(\d+):(\d+)†[^】]*】")
# A small model's garbled attempts at a marker ("【0-0†a.txt】", "【0:0】"), left out like
# markers naming no source; other bracketed text ("【Note】") is the answer's own.
_MARKER_LIKE = re.compile(r"【[^】]*†[^】]*】|【\d*:\d*】")
SANDBOX_LINK = re.compile(r"sandbox:/mnt/data/[^\s)\]\[\"'<>`]+")
# A marker longer than this was not a marker: the held text is let through.
_MAX_MARKER = 200
_WORD = re.compile(r"[^\W_]{3,}")
_STOP = frozenset("""the and for are but not you all any can had her was one our out has him his
how its may new now see two who did get let put say she too use that with have this will your from
they been more when what were than them then into some such which their there these would about
could other after also only over most just like""".split())
# A sentence is cited when at least this share of its content words (and two of them) are in a source.
SUPPORT = 0.5
_END = ".!?\n"
# A word with dots inside ("e.g", "i.e", "U.S"): the dot after it does not end a sentence.
_ABBREVIATION = re.compile(r"(?:^|[\s(])[^\W\d_](?:\.[^\W\d_])+$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
QUOTE_CHARS = 300
# What streams: a piece of text and the annotations that start in it.
Delta = tuple[str, list[Annotation]]


def content_words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP}


def quote_for(source: str, sentence: str) -> str:
    """The source's sentence sharing the most content words with the citing sentence (the
    first one when none share any): the passage a citation points at."""
    candidates = [s.strip() for s in _SENTENCE_END.split(" ".join(source.split())) if s.strip()]
    if not candidates:
        return ""
    words = content_words(sentence)
    best = max(candidates, key=lambda s: len(words & content_words(s)))
    return best[:QUOTE_CHARS]


class Citations:
    def __init__(self, sources: list[Source]):
        self.sources = {(s.n, s.i): s for s in sources}
        self._words = {key: content_words(s.text) for key, s in self.sources.items()}
        self.text = ""  # everything emitted so far
        self.annotations: list[Annotation] = []
        self._held = ""  # not yet emitted: a possible marker, or a sentence end
        self._sentence_start = 0
        self._sentence_cited = False
        self._marker_ends_sentence = False

    def feed(self, piece: str) -> list[Delta]:
        """Takes decoded text; returns the (text, new annotations) deltas ready to stream."""
        out: list[Delta] = []
        for ch in piece:
            self._char(ch, out)
        return _merge(out)

    def finish(self) -> list[Delta]:
        out: list[Delta] = []
        held, self._held = self._held, ""
        if held.startswith("【"):
            self._emit(held, out)  # an unclosed bracket at the very end is plain text
        else:
            self._emit(held, out)
            self._close_sentence(out)
        return _merge(out)

    def link_files(self, paths: dict[str, str]) -> list[Annotation]:
        """file_path annotations for sandbox:/mnt/data/... links in the finished text to files
        the code made; returns the new ones (also kept with the citations)."""
        new = []
        for m in SANDBOX_LINK.finditer(self.text):
            link = m.group(0).rstrip(".,;:!?")
            file_id = paths.get(link.removeprefix("sandbox:"))
            if file_id is None:
                continue
            annotation = Annotation("file_path", link, m.start(), m.start() + len(link), file_id,
                                    filename=link.rsplit("/", 1)[-1])
            self.annotations.append(annotation)
            new.append(annotation)
        return new

    # --- the state machine ---------------------------------------------------------------------

    def _char(self, ch: str, out: list[Delta]) -> None:
        held = self._held
        if held.startswith("【"):
            self._held = held + ch
            if ch == "】":
                self._held = ""
                self._marker(held + ch, out)
            elif len(self._held) > _MAX_MARKER:
                self._held = ""
                self._emit(held + ch, out)
            else:
                return
            if self._marker_ends_sentence:
                self._marker_ends_sentence = False
                self._close_sentence(out)
            return
        if held == "." and _ABBREVIATION.search(self.text):
            self._emit(held, out)  # "e.g. beds": not a sentence end
            self._held = held = ""
        if held:  # a sentence end waiting to see what follows it
            if ch.isspace() or ch == "【":
                self._emit(held, out)
                self._held = ""
                if ch == "【":
                    # A marker right after the full stop belongs to the sentence just ended,
                    # which closes once the marker does.
                    self._held = ch
                    self._marker_ends_sentence = True
                    return
                self._close_sentence(out)
                self._emit(ch, out)
                return
            if ch in _END:
                self._held = held + ch
                return
            self._emit(held, out)  # "3.14", "e.g": not a sentence end
            self._held = ""
        if ch == "【":
            self._held = ch
        elif ch in _END:
            if ch == "\n":
                self._close_sentence(out)
                self._emit(ch, out)
            else:
                self._held = ch
        else:
            self._emit(ch, out)

    def _marker(self, marker: str, out: list[Delta]) -> None:
        m = MARKER.fullmatch(marker)
        if m is None:
            if not _MARKER_LIKE.fullmatch(marker):
                self._emit(marker, out)  # bracketed words, not a marker: they stay
            return  # a garbled marker is left out
        source = self.sources.get((int(m.group(1)), int(m.group(2))))
        if source:
            self._cite(marker, source, out)
        # else: it points at nothing, so it is left out.

    def _cite(self, marker: str, source: Source, out: list[Delta]) -> None:
        start = len(self.text)
        quote = quote_for(source.text, self.text[self._sentence_start:])
        annotation = Annotation("file_citation", marker, start, start + len(marker),
                                source.file_id, quote=quote, filename=source.filename)
        self.annotations.append(annotation)
        self.text += marker
        out.append((marker, [annotation]))
        self._sentence_cited = True

    def _emit(self, text: str, out: list[Delta]) -> None:
        if text:
            self.text += text
            out.append((text, []))

    def _close_sentence(self, out: list[Delta]) -> None:
        sentence = self.text[self._sentence_start:]
        if not self._sentence_cited and self.sources:
            source = self._best_support(sentence)
            if source is not None:
                self._cite(source.marker, source, out)
        self._sentence_start = len(self.text)
        self._sentence_cited = False

    def _best_support(self, sentence: str) -> Source | None:
        words = content_words(MARKER.sub("", sentence))
        if len(words) < 2:
            return None
        best, best_share = None, 0.0
        for key in sorted(self.sources):  # ties go to the earlier, higher-ranked result
            hits = len(words & self._words[key])
            share = hits / len(words)
            if hits >= 2 and share >= SUPPORT and share > best_share:
                best, best_share = self.sources[key], share
        return best


def _merge(out: list[Delta]) -> list[Delta]:
    """Adjacent plain pieces become one delta; an annotation keeps its own."""
    merged: list[Delta] = []
    for text, anns in out:
        if merged and not anns and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + text, [])
        else:
            merged.append((text, anns))
    return merged
