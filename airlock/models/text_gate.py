"""What of a reply's decoded text may be shown, piece by piece.

Text that could be the beginning of a marker (a stop string, tool-call or template markup, a
call opener) is held back until it is known not to be one, as llama.cpp holds back partial stop
strings. At the start of a reply (nothing but whitespace shown yet), a JSON object opening
`{"name"` (or fenced as ```json, or spelled `{'name'`) is held back as well, when
`json_openers` is on. When a marker is found, the text before it is shown and `hit` says which
marker ended the text: the caller stops generating, and either decodes a call from there
("call") or ends the reply ("stop").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from airlock.models.call_formats import JSON_OPENERS, TEXT_CALL_OPENERS, squeeze

# Punctuation before a reply's first JSON call opener: the rest of markup the model half wrote.
_LEAD = re.compile(r"^[^\w{`]+")
# A held tail shorter than this that only might begin a marker is shown at the end of a reply.
_MIN_DROPPED = 2


@dataclass(frozen=True)
class Hit:
    kind: Literal["call", "stop"]
    marker: str
    # Nothing but whitespace came before the marker: the reply would be empty (and nothing has
    # been shown).
    at_start: bool


class TextGate:
    def __init__(self, stops: Iterable[str], openers: Iterable[str] = (),
                 json_openers: bool = False):
        self.openers = tuple(o for o in openers if o)
        self.json_openers = TEXT_CALL_OPENERS if json_openers else ()
        # Once the reply has begun, a JSON call on a line of its own is the model writing out a
        # call (seen: Qwen restating the call it made, after its output came back): the reply
        # ends there. `{"name"` within a sentence stays text.
        inline = ("\n" + JSON_OPENERS[0],) if json_openers else ()
        self.markers = tuple(dict.fromkeys([*(s for s in stops if s), *self.openers, *inline]))
        self.shown = ""
        self.held = ""
        self.hit: Hit | None = None

    def feed(self, text: str) -> str:
        """Adds decoded text; returns what may be shown now ("" once a marker was hit)."""
        if self.hit is not None:
            return ""
        held = self.held + text
        if _blank(self.shown):
            if _blank(held):
                self.held = held  # leading whitespace and punctuation wait for what follows
                return ""
            if self.json_openers:
                flat = _LEAD.sub("", squeeze(held))
                if any(flat.startswith(o) for o in self.json_openers):
                    self.held = ""
                    self.hit = Hit("call", held, at_start=True)
                    return ""
                if any(o.startswith(flat) for o in self.json_openers):
                    self.held = held
                    return ""
        cut, marker = _find(held, self.markers)
        if marker is not None:
            out = held[:cut]
            self.held = ""
            at_start = _blank(self.shown + out)
            self.hit = Hit("call" if marker in self.openers else "stop", marker, at_start)
            return "" if at_start else self._show(out)
        keep = _prefix_len(held, self.markers)
        out = held[: len(held) - keep]
        if _blank(self.shown + out):
            self.held = held  # nothing but whitespace or punctuation: the reply has not begun
            return ""
        self.held = held[len(held) - keep:]
        return self._show(out)

    def control(self, text: str) -> str:
        """The model produced a control token (`text` is its spelling): a call opener opens a
        call, anything else ends the reply. Returns the held text that may still be shown."""
        if self.hit is not None:
            return ""
        out = self.finish() if self.shown or self.held.strip() else ""
        self.held = ""
        self.hit = Hit("call" if text in self.openers else "stop", text,
                       at_start=_blank(self.shown))
        return out

    def finish(self) -> str:
        """The end of the reply: what was held back, unless it is the beginning of a marker."""
        held, self.held = self.held, ""
        if self.hit is not None:
            return ""
        tail = held.strip()
        if len(tail) >= _MIN_DROPPED and (
                any(m.startswith(tail) for m in self.markers)
                or (_blank(self.shown) and (lead := _LEAD.sub("", squeeze(tail)))
                    and any(o.startswith(lead) for o in self.json_openers))):
            return ""
        return self._show(held)

    def _show(self, text: str) -> str:
        self.shown += text
        return text


def _blank(text: str) -> bool:
    """Nothing a reader would call a reply yet: no letter or digit. A model that starts with a
    stray fragment of markup (`>` after a call opener it was kept from writing) has not begun."""
    return not any(ch.isalnum() for ch in text)


def _find(text: str, markers: tuple[str, ...]) -> tuple[int, str | None]:
    """The earliest marker in `text` (the longest one at that place)."""
    best, found = len(text) + 1, None
    for m in markers:
        i = text.find(m)
        if i >= 0 and (i < best or (i == best and found is not None and len(m) > len(found))):
            best, found = i, m
    return best, found


def find_stop(text: str, stops: tuple[str, ...]) -> int | None:
    """Where the first stop string in `text` begins, if any."""
    cut, marker = _find(text, stops)
    return cut if marker is not None else None


def _prefix_len(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of a marker."""
    best = 0
    for s in markers:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best


stop_prefix_len = _prefix_len
