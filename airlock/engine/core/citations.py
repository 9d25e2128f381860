"""Citations in a streamed answer: markers become file_citation annotations with exact offsets.

The model is shown sources labelled 【n:i†filename】 and asked to write those markers. Text
passes through `Citations.feed` as it streams:
- a marker naming a source becomes an annotation whose offsets slice exactly the marker, and
  whose quote is the source sentence closest to the citing one (Assistants v1 shows quotes);
- a marker naming no source, or garbled, is dropped (held back until its closing 】, so it
  never streams); other bracketed text stays;
- a small model forgets markers, so every finished sentence without one is cited after the
  sentence to the source that supports it (`Support`): the source sentence or clause matching
  it best holds most of its content words, every number it states, and the same polarity
  (negations, closed/open, prohibited/allowed). A sentence that merely shares words with a
  source, or that the best-matching source sentence contradicts, stays uncited.
Only text that will stay is emitted, so the streamed deltas always add up to the final text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airlock.engine.core.items import Annotation, Source

__all__ = ["Citations", "Claim", "Source", "Support", "content_words", "quote_for"]

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
# A sentence is cited when the source sentence or clause matching it best holds at least this
# share of its content words (and two of them), and agrees with it (numbers, polarity).
SUPPORT = 0.65
MIN_SHARED = 2
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


# --- support: does a source say what a sentence says? ---------------------------------------------
# Cheap and synchronous (it runs per sentence while the answer streams): words, numbers and
# polarity, no model. scripts/eval/citations.py measures it on labelled pairs.

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)?")
_NEGATORS = frozenset("""not no never none nobody nothing neither nor without cannot dont doesnt
didnt cant wont isnt arent wasnt werent shouldnt mustnt""".split())
# "No, ..." / "Yes, ..." answers the question; it does not negate the sentence.
_ANSWER_WORD = re.compile(r"^\W*(?:no|yes)\s*,", re.IGNORECASE)
# Words one side of an opposition; the other side is the plain word. A negative word counts as
# a negation ("closed" is "not open") and matches its plain word, so the best-matching source
# sentence for "open on Fridays" can be "closed on Fridays", whose polarity then differs.
_OPPOSITES = {
    "closed": "open", "shut": "open",
    "prohibited": "allowed", "prohibit": "allowed", "prohibits": "allowed",
    "forbidden": "allowed", "forbid": "allowed", "banned": "allowed", "disallowed": "allowed",
    "optional": "required", "excluded": "included", "exclude": "included",
    "excludes": "included", "unpaid": "paid", "unavailable": "available",
    "rejected": "accepted", "declined": "accepted", "denied": "approved", "disabled": "enabled",
    "unsafe": "safe", "invalid": "valid", "illegal": "legal", "impossible": "possible",
}
_SAME = {"permitted": "allowed", "permit": "allowed", "permits": "allowed", "allow": "allowed",
         "allows": "allowed", "mandatory": "required", "compulsory": "required",
         "require": "required", "requires": "required", "include": "included",
         "includes": "included", "opens": "open", "opened": "open"}
_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate(
    "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_NUMBER_WORDS = {**_UNITS, **_TENS, "twice": 2, "hundred": 100, "thousand": 1000}
# Modal and auxiliary verbs carry no claim of their own (their negation does).
_SUPPORT_STOP = (_STOP - {"two", "one", "not"}) | frozenset(
    "must should need needs needed shall might does also just very really here please".split())


def _stem(word: str) -> str:
    """A light suffix stripper, enough for "returned"/"returns"/"return" to be one word."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix, keep in (("ing", 3), ("able", 4), ("ed", 3), ("es", 3), ("s", 3)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep and not (
                suffix == "s" and word[-2] in "su"):
            word = word[:-len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # "submitt(ed)" is "submit"
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _number(token: str) -> str:
    value = token.replace(",", "")
    return str(int(value)) if value.isdigit() else value


@dataclass(frozen=True)
class Claim:
    """What a sentence says, for matching: its words, the numbers it states, its polarity."""

    words: frozenset[str]  # stemmed content words and numbers; opposites as their plain word
    numbers: frozenset[str]
    negative: bool  # an odd count of negations ("not", "never", "closed", "prohibited"...)

    @classmethod
    def of(cls, text: str) -> Claim:
        words: set[str] = set()
        numbers: set[str] = set()
        negations = 0
        text = _ANSWER_WORD.sub("", text.replace("\u2019", "'").replace("%", " percent"))
        tokens = _TOKEN.findall(text.lower())
        previous_tens = None
        for i, token in enumerate(tokens):
            if token[0].isdigit():
                numbers.add(_number(token))
                previous_tens = None
                continue
            if token in _NUMBER_WORDS:
                value = _NUMBER_WORDS[token]
                if previous_tens is not None and value < 10:  # "twenty-five"
                    numbers.discard(str(previous_tens))
                    value += previous_tens
                numbers.add(str(value))
                previous_tens = value if token in _TENS else None
                continue
            previous_tens = None
            if token in _NEGATORS or token.endswith("n't"):
                # "not even", "not only" intensify a negation already made, or none.
                if not (token == "not" and tokens[i + 1:i + 2] in (["even"], ["only"])):
                    negations += 1
                continue
            if token in _OPPOSITES:
                negations += 1
                words.add(_OPPOSITES[token])
            elif token in _SAME:
                words.add(_SAME[token])
            elif len(token) >= 3 and token not in _SUPPORT_STOP:
                words.add(_stem(token))
        return cls(frozenset(words | numbers), frozenset(numbers), negations % 2 == 1)


_CLAUSE_END = re.compile(r"[,;:]\s+|\s+(?:but|whereas|while|although|however)\s+")


class Support:
    """A source as the sentences and clauses a sentence is matched against, analysed once."""

    def __init__(self, text: str):
        units: list[Claim] = []
        lines = (" ".join(line.split()) for line in text.splitlines())  # a heading, a list item
        for sentence in (s for line in lines for s in _SENTENCE_END.split(line)):
            clauses = [c for c in _CLAUSE_END.split(sentence) if c.strip()]
            for part in [sentence, *clauses] if len(clauses) > 1 else [sentence]:
                unit = Claim.of(part)
                if unit.words:
                    units.append(unit)
        # Tightest first: of two units matching a sentence equally, the clause is the one meant.
        self.units = sorted(units, key=lambda u: len(u.words))

    def best(self, claim: Claim) -> tuple[float, int, Claim | None]:
        """(share of the claim's words, how many, unit) for the unit holding the most of them."""
        best: tuple[float, int, Claim | None] = (0.0, 0, None)
        for unit in self.units:
            hits = len(claim.words & unit.words)
            if hits / len(claim.words) > best[0]:
                best = (hits / len(claim.words), hits, unit)
        return best


def agrees(claim: Claim, unit: Claim) -> bool:
    """The unit states every number the claim does, with the same polarity."""
    return claim.numbers <= unit.numbers and claim.negative == unit.negative


class Citations:
    def __init__(self, sources: list[Source], auto: bool = True):
        """`auto`: cite supported sentences the model left uncited (off: only its own markers)."""
        self.sources = {(s.n, s.i): s for s in sources}
        self.auto = auto
        self._support = {key: Support(s.text) for key, s in self.sources.items()}
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
        if not self._sentence_cited and self.sources and self.auto:
            source = self._best_support(sentence)
            if source is not None:
                self._cite(source.marker, source, out)
        self._sentence_start = len(self.text)
        self._sentence_cited = False

    def _best_support(self, sentence: str) -> Source | None:
        """The source whose best-matching sentence or clause supports the sentence: most of its
        words, its numbers, its polarity. When that best match disagrees, nothing is cited (a
        weaker match elsewhere does not outvote the contradiction)."""
        claim = Claim.of(MARKER.sub("", sentence))
        if len(claim.words) < MIN_SHARED:
            return None
        best: tuple[float, int, Claim | None] = (0.0, 0, None)
        source = None
        for key in sorted(self.sources):  # ties go to the earlier, higher-ranked result
            found = self._support[key].best(claim)
            if found[0] > best[0]:
                best, source = found, self.sources[key]
        share, hits, unit = best
        if unit is None or share < SUPPORT or hits < MIN_SHARED or not agrees(claim, unit):
            return None
        return source


def _merge(out: list[Delta]) -> list[Delta]:
    """Adjacent plain pieces become one delta; an annotation keeps its own."""
    merged: list[Delta] = []
    for text, anns in out:
        if merged and not anns and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + text, [])
        else:
            merged.append((text, anns))
    return merged
