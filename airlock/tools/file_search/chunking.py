"""Token-window chunking that returns verbatim slices of the source text.

Windows are counted in the given fast tokenizer's word pieces (no special tokens). The text
is tokenized once and chunks are cut by character offsets, so a chunk is exactly a substring
of the input: what a citation quotes is what the file says, not a detokenized approximation.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any


def token_offsets(text: str, tokenizer: Any) -> list[tuple[int, int]]:
    """Character spans of the word pieces of `text`, in order, without special tokens."""
    enc = tokenizer(
        text,
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        # Long documents exceed model_max_length by design; the warning would be noise.
        verbose=False,
    )
    # Zero-width spans carry no text (some tokenizers emit them); they would only shift windows.
    return [(int(s), int(e)) for s, e in enc["offset_mapping"] if e > s]


def window_starts(n: int, size: int, overlap: int) -> list[int]:
    """Start indexes of windows of `size` over n items stepping by size - overlap, the last
    one reaching item n-1; stops as soon as a window reaches the end, so no window is
    contained in the one before it."""
    if size < 1:
        raise ValueError("size must be at least 1")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be >= 0 and smaller than size")
    starts: list[int] = []
    start = 0
    while n > 0:
        starts.append(start)
        if start + size >= n:
            break
        start += size - overlap
    return starts


@dataclass(frozen=True)
class Chunked:
    """A document cut into chunks, with the word pieces they were cut at: `spans` are the
    pieces' character spans, `ranges` each chunk's [start, end) in pieces. Keeping the pieces
    lets the index embed a window shared by overlapping chunks once (index.py)."""

    text: str
    spans: list[tuple[int, int]]
    ranges: list[tuple[int, int]]
    step: int  # max_tokens - overlap: where consecutive chunks start, in pieces

    def piece_text(self, start: int, end: int) -> str:
        """The verbatim text of pieces [start, end)."""
        return self.text[self.spans[start][0]:self.spans[end - 1][1]]

    @property
    def chunks(self) -> list[str]:
        return [self.piece_text(a, b) for a, b in self.ranges]


def chunk(text: str, tokenizer: Any, max_tokens: int, overlap: int) -> Chunked:
    """Chunks of at most `max_tokens` word pieces, consecutive chunks sharing `overlap`
    pieces. Empty or whitespace-only text (or text the tokenizer finds no pieces in) has none."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be >= 0 and smaller than max_tokens")
    if not text or text.isspace():
        return Chunked(text, [], [], max_tokens - overlap)
    spans = token_offsets(text, tokenizer)
    n = len(spans)
    ranges = [(s, min(s + max_tokens, n)) for s in window_starts(n, max_tokens, overlap)]
    return Chunked(text, spans, ranges, max_tokens - overlap)


def split(text: str, tokenizer: Any, max_tokens: int, overlap: int) -> list[str]:
    """The chunks of chunk() as strings."""
    return chunk(text, tokenizer, max_tokens, overlap).chunks


def shared_windows(ranges: list[tuple[int, int]], step: int, size: int, min_overlap: int
                   ) -> list[tuple[int, int, int, int]]:
    """Embedding windows of at most `size` pieces that together cover every chunk of
    `ranges` (chunk [start, end) pieces, starting `step` apart), each window lying wholly
    inside every chunk it is given to: (start, end, first chunk, last chunk), by start.

    Windows are cut on one grid over the whole document, so overlapping chunks share them
    instead of each embedding the overlap again. The grid's stride divides the chunk step
    when it can (400 -> 100 for size 128), so chunk starts fall on it; consecutive windows
    overlap by at least `min_overlap` pieces (a phrase cut by one window is whole in the
    next). Where a chunk starts off the grid, or the grid overshoots its end, a window
    aligned to that edge is added: every part of every chunk is in a window of that chunk.
    """
    if not ranges:
        return []
    stride = max(1, size - min_overlap)
    stride = max(1, step // -(-step // stride)) if step > 0 else stride
    found: set[tuple[int, int]] = set()
    for cs, ce in ranges:
        if ce - cs <= size:
            found.add((cs, ce))
            continue
        g = -(-cs // stride) * stride  # first grid point at or after cs
        if g > cs:
            found.add((cs, cs + size))
        while True:
            if g + size >= ce:
                found.add((ce - size, ce) if g + size > ce else (g, ce))
                break
            found.add((g, g + size))
            g += stride
    starts = [cs for cs, _ in ranges]
    ends = [ce for _, ce in ranges]
    out = []
    for a, b in sorted(found):
        first = bisect.bisect_left(ends, b)  # chunks that reach b
        last = bisect.bisect_right(starts, a) - 1  # chunks that start by a
        out.append((a, b, first, last))
    return out
