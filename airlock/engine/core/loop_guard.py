"""Stops a reply that repeats itself, the way small models loop.

The rule, applied to the text as it streams:
- A sentence (text up to `.`, `!`, `?` or a line end) of at least MIN_SENTENCE_CHARS that the
  reply already said (same words, case and spacing aside) is a repeat: it is not kept. While a
  new sentence could still turn out to be a repeat (its text so far begins a sentence said
  before), it is held back, so a repeat never streams.
- The MAX_REPEATS-th repeat ends the reply: generation stops there, and the run ends
  `completed`, as at a natural stop.
- Without sentence ends, a span of words repeated three times in a row (SPAN_REPEATS, the span
  at least MIN_SPAN_CHARS long) ends the reply too; those copies had already streamed, so they
  stay in the message, which then always equals what was streamed.
- A run without spaces of at least MIN_RUN_CHARS made of at most MAX_RUN_SYMBOLS distinct
  characters, not all punctuation, ends the reply the same way: a model printing a number that
  never ends ("48035404035404040354..."). Real numbers and hashes use more symbols; a rule of
  dashes is all punctuation.
"""

from __future__ import annotations

import re

MIN_SENTENCE_CHARS = 16
MAX_REPEATS = 2
SPAN_REPEATS = 3
MIN_SPAN_CHARS = 12
MAX_SPAN_WORDS = 24
MIN_RUN_CHARS = 96
MAX_RUN_SYMBOLS = 4
_END = ".!?\n"
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\S+")


def _norm(text: str) -> str:
    """Words as said: case, spacing and the closing punctuation aside."""
    return _SPACES.sub(" ", text).strip().rstrip(_END).rstrip().lower()


class LoopGuard:
    def __init__(self) -> None:
        self.said: set[str] = set()  # sentences of this reply, normalised
        self.tripped = False  # the reply loops: generation should stop
        self.repeats = 0
        self._sentence = ""  # the sentence in progress
        self._held = ""  # the part of it not emitted yet
        self._holding = True  # held from its start while it could repeat a said sentence
        self._word = ""
        self._words: list[str] = []  # recent words, for span repeats

    def feed(self, piece: str) -> str:
        """Takes decoded text; returns the part that may stream now."""
        out: list[str] = []
        for ch in piece:
            if self.tripped:
                break
            self._char(ch, out)
        return "".join(out)

    def finish(self) -> str:
        """The held text at the end of generation: kept unless it repeats a sentence."""
        held, self._held = self._held, ""
        if self.tripped or self._is_repeat(self._sentence):
            return ""
        return held

    def _char(self, ch: str, out: list[str]) -> None:
        self._sentence += ch
        if self._holding:
            self._held += ch
        else:
            out.append(ch)
        if ch in _END:
            self._close_sentence(out)
        elif self._holding and not self._could_repeat():
            out.append(self._held)
            self._held, self._holding = "", False
        self._track_words(ch)

    def _close_sentence(self, out: list[str]) -> None:
        sentence, held, holding = self._sentence, self._held, self._holding
        self._sentence, self._held, self._holding = "", "", True
        if holding and self._is_repeat(sentence):
            self.repeats += 1  # said before: dropped, unseen
            self.tripped = self.repeats >= MAX_REPEATS
            return
        out.append(held)
        if len(_norm(sentence)) >= MIN_SENTENCE_CHARS:
            self.said.add(_norm(sentence))

    def _is_repeat(self, sentence: str) -> bool:
        norm = _norm(sentence)
        return len(norm) >= MIN_SENTENCE_CHARS and norm in self.said

    def _could_repeat(self) -> bool:
        """Whether the sentence so far (nothing yet, or the start of one) may repeat."""
        norm = _norm(self._sentence)
        return not norm or any(s.startswith(norm) for s in self.said)

    def _track_words(self, ch: str) -> None:
        if not ch.isspace() and ch not in _END:
            self._word += ch
            if len(self._word) >= MIN_RUN_CHARS and _endless(self._word[-MIN_RUN_CHARS:]):
                self.tripped = True
            return
        if not self._word:
            return
        self._words = [*self._words[-(SPAN_REPEATS * MAX_SPAN_WORDS - 1):], self._word.lower()]
        self._word = ""
        w = self._words
        for k in range(1, len(w) // SPAN_REPEATS + 1):
            span = w[-k:]
            if len(" ".join(span)) >= MIN_SPAN_CHARS and all(
                    w[len(w) - (i + 1) * k: len(w) - i * k] == span for i in range(1, SPAN_REPEATS)):
                self.tripped = True
                return


def _endless(run: str) -> bool:
    """Whether a run of characters without spaces is a model looping on a few symbols."""
    symbols = set(run)
    return len(symbols) <= MAX_RUN_SYMBOLS and any(c.isalnum() for c in symbols)
