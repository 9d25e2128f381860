"""Loops in a program a small model writes: found while it is decoded, folded after.

Small models loop inside programs: one line again and again, a whole block (a `def` and its
body, written out a second and third time), or the same line with the next number each time
(`print(f(1))`, `print(f(2))`, ...). Left alone, each runs until the code budget ends
mid-statement, which on a busy machine also takes most of a run's time. Decoding stops at the
first sign of one; the repeats are dropped, so what runs is what the model meant."""

import re
from collections.abc import Callable

# One line written this many times in a row is a loop (twice may be meant).
REPEATED_LINES = 3
# A block of two or more lines, written twice in a row, is a loop: a program never means that.
REPEATED_BLOCK = 2
MAX_BLOCK = 16
# Lines that differ only in their numbers, this many in a row: the model is counting, not
# programming. They are kept (each says something); decoding stops.
SAME_SHAPE = 16
_NUMBER = re.compile(r"\d+")


def looping(raw: str) -> bool:
    """Whether the program decoded so far (its last, unfinished piece aside) has begun to loop."""
    lines = raw.split("\n")[:-1]
    if not lines:
        return False
    if not lines[-1].strip():
        return _block_repeated(lines)  # a block may end with its blank line
    return (_trailing_run(lines) >= REPEATED_LINES or _block_repeated(lines)
            or (_NUMBER.search(lines[-1]) is not None  # no number: not counting
                and _trailing_run(lines, _shape) >= SAME_SHAPE))


def without_repeats(lines: list[str]) -> list[str]:
    """The lines with each loop kept once: a line repeated REPEATED_LINES times or more, a
    block of lines repeated REPEATED_BLOCK times or more."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        size, times = _repeat_at(lines, i)
        out += lines[i:i + size]
        i += size * times
    return out


def _repeat_at(lines: list[str], i: int) -> tuple[int, int]:
    """(block size, times in a row) of the shortest loop starting at line i; (1, 1) if none."""
    for size in range(1, MAX_BLOCK + 1):
        block = lines[i:i + size]
        if len(block) < size or sum(1 for line in block if line.strip()) < min(size, 2):
            continue
        times = 1
        while lines[i + times * size:i + (times + 1) * size] == block:
            times += 1
        if times >= (REPEATED_LINES if size == 1 else REPEATED_BLOCK):
            return size, times
    return 1, 1


def _trailing_run(lines: list[str], key: Callable[[str], str] = str) -> int:
    """How many lines at the end are the same as the last, compared by `key`."""
    last = key(lines[-1])
    n = 1
    while n < len(lines) and key(lines[-1 - n]) == last:
        n += 1
    return n


def _block_repeated(lines: list[str]) -> bool:
    for size in range(2, min(MAX_BLOCK, len(lines) // REPEATED_BLOCK) + 1):
        block = lines[-size:]
        if sum(1 for line in block if line.strip()) >= 2 and all(
                lines[-(k + 1) * size:-k * size] == block for k in range(1, REPEATED_BLOCK)):
            return True
    return False


def _shape(line: str) -> str:
    """The line with each number written as 0."""
    return _NUMBER.sub("0", line)
