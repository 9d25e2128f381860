"""What an execution gives back, and the bounded log it is collected in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

MAX_IMAGES = 20  # PNGs kept per execution; the rest are counted in a note


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass
class Execution:
    """The outcome of one `KernelPool.execute`.

    logs         stdout, stderr, results' text/plain and error tracebacks (ANSI codes stripped),
                 in the order they arrived, capped at Limits.output_chars with a note where cut;
                 also notes from the sandbox (timeout, kernel death, restart).
    images       PNG bytes from image/png display_data / execute_result (figures shown or left open).
    error        the code raised (including the KeyboardInterrupt of a timeout), or the kernel died.
    timed_out    the wall-clock limit was hit.
    state_reset  the thread had a kernel before and this execution ran on a fresh one (idle expiry,
                 LRU eviction, or a kernel that died or had to be restarted after a timeout).
    files        names relative to /mnt/data of regular files this execution created or modified,
                 at most Limits.output_files of them (the logs name the others).
    duration_s   wall time of the execution itself (not of getting a kernel).
    """

    logs: str = ""
    images: list[bytes] = field(default_factory=list)
    error: bool = False
    timed_out: bool = False
    state_reset: bool = False
    files: list[str] = field(default_factory=list)
    duration_s: float = 0.0


class CappedText:
    """Keeps the first 2/3 and the last 1/3 of at most `cap` characters; memory stays O(cap)."""

    def __init__(self, cap: int):
        self.cap = max(cap, 0)
        self.head_cap = self.cap * 2 // 3
        self.tail_cap = self.cap - self.head_cap
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.total = 0

    def add(self, text: str) -> None:
        text = strip_ansi(text)
        if not text:
            return
        self.total += len(text)
        room = self.head_cap - self.head_len
        if room > 0:
            self.head.append(text[:room])
            self.head_len += min(room, len(text))
            text = text[room:]
        if text:
            self.tail = (self.tail + text)[-self.tail_cap:] if self.tail_cap else ""

    def text(self) -> str:
        head = "".join(self.head)
        dropped = self.total - len(head) - len(self.tail)
        if dropped <= 0:
            return head + self.tail
        return (f"{head}\n[... output truncated: {dropped} characters omitted "
                f"(limit {self.cap}) ...]\n{self.tail}")
