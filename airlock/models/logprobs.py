"""Log probabilities of the tokens a reply is made of, as Chat Completions reports them.

llama.cpp hands each step's logits to the logits processors just before it samples; the
recorder keeps that step's log-softmax (after logit_bias and the engine's bans, so a banned
token never appears as an alternative) and pairs it with the token that was then sampled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from airlock.models.backend import TokenLogprob


class LogprobRecorder:
    def __init__(self, top: int, piece: Callable[[int], bytes]):
        self.top = top
        self._piece = piece
        self._last: np.ndarray | None = None
        self.tokens: list[TokenLogprob] = []

    def processor(self, _input_ids: Any, logits: np.ndarray) -> np.ndarray:
        finite = np.where(np.isfinite(logits), logits, -np.inf).astype(np.float64)
        peak = finite.max()
        self._last = finite - (peak + np.log(np.exp(finite - peak).sum()))
        return logits

    def take(self, token: int) -> None:
        """`token` was sampled from the step last seen."""
        if self._last is None:
            return
        lp = self._last
        alternatives: list[tuple[str, list[int], float]] = []
        if self.top:
            best = np.argpartition(-lp, self.top)[: self.top]
            for t in best[np.argsort(-lp[best])]:
                alternatives.append(self._entry(int(t), float(lp[t])))
        text, raw, value = self._entry(token, float(lp[token]))
        self.tokens.append(TokenLogprob(text, raw, value, alternatives))
        self._last = None

    def _entry(self, token: int, value: float) -> tuple[str, list[int], float]:
        raw = self._piece(token)
        # -inf is not JSON: a token the grammar forced against a ban reports the lowest float.
        return raw.decode("utf-8", "replace"), list(raw), max(value, -9999.0)
