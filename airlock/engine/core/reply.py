"""The text answer of one model call as it streams: loop guard, then citations, then the sink.

A `LoopGuard` drops sentences the reply repeats and stops a reply that loops. When the turn has
sources to cite or files its code made, the text goes through `Citations`, which decides
annotations while streaming, so the deltas always add up to the final text.
"""

from __future__ import annotations

from airlock.engine.core.citations import Citations
from airlock.engine.core.items import Annotation
from airlock.engine.core.loop_guard import LoopGuard
from airlock.engine.core.sink import Sink


class ReplyStream:
    def __init__(self, sink: Sink, citations: Citations | None, guard: LoopGuard | None):
        self.sink, self.citations, self.guard = sink, citations, guard
        self.started = False  # text (possibly empty) reached the sink
        self._pieces: list[str] = []

    def on_text(self, piece: str) -> None:
        """The model backend's callback for each decoded piece."""
        if self.guard is not None:
            piece = self.guard.feed(piece)
            if not piece:
                return
        self._text(piece)

    def end_of_text(self) -> None:
        """Generation ended: text the guard and the citations held back streams now."""
        if self.guard is not None and (tail := self.guard.finish()):
            self._text(tail)
        if self.citations is not None and self.started:
            for text, annotations in self.citations.finish():
                self._delta(text, annotations)

    def append(self, text: str) -> None:
        """Text the server adds after the model's reply ended (core.grounding), as a paragraph
        of its own: cited like the model's own (a marker becomes an annotation), and streamed
        at once."""
        self._text(("\n\n" if self.text.strip() else "") + text)
        if self.citations is not None:
            for piece, annotations in self.citations.finish():
                self._delta(piece, annotations)

    def link_files(self, produced: dict[str, str]) -> None:
        """file_path annotations on the answer's sandbox:/mnt/data links to files the code
        made (`produced`: path -> file id)."""
        if self.citations is not None and produced:
            links = self.citations.link_files(produced)
            if links:
                self._delta("", links)

    def open(self) -> None:
        """An answer with no text still opens (an empty message)."""
        if not self.started:
            self._delta("", [])

    @property
    def text(self) -> str:
        return self.citations.text if self.citations is not None else "".join(self._pieces)

    @property
    def annotations(self) -> list[Annotation]:
        return list(self.citations.annotations) if self.citations is not None else []

    def _text(self, piece: str) -> None:
        if self.citations is None:
            self._delta(piece, [])
        else:
            for text, annotations in self.citations.feed(piece):
                self._delta(text, annotations)

    def _delta(self, text: str, annotations: list[Annotation]) -> None:
        self.started = True
        self._pieces.append(text)
        self.sink.text(text, annotations)
