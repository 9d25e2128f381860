"""Token-window chunking that returns verbatim slices of the source text.

Windows are counted in the given fast tokenizer's word pieces (no special tokens). The text
is tokenized once and chunks are cut by character offsets, so a chunk is exactly a substring
of the input: what a citation quotes is what the file says, not a detokenized approximation.
"""

from __future__ import annotations

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


def split(text: str, tokenizer: Any, max_tokens: int, overlap: int) -> list[str]:
    """Chunks of at most `max_tokens` word pieces, consecutive chunks sharing `overlap`
    pieces. Empty or whitespace-only text (or text the tokenizer finds no pieces in) gives []."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be >= 0 and smaller than max_tokens")
    if not text or text.isspace():
        return []
    spans = token_offsets(text, tokenizer)
    n = len(spans)
    return [text[spans[s][0]:spans[min(s + max_tokens, n) - 1][1]]
            for s in window_starts(n, max_tokens, overlap)]
