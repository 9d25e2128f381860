"""Embeddings: vectors of the file_search embedding model, the one copy file_search uses.

Wire behaviour: docs/wire/embeddings.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from airlock.errors import InvalidRequest, UnknownModel
from airlock.service.context import Context, off_loop
from airlock.tools.file_search import Embedder, model_created, model_id

# OpenAI's embedding models: code written for the hosted API names one of these, and gets the
# embedding model airlock has (unless --strict-models).
OPENAI_NAMES = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")


@dataclass(frozen=True)
class EmbeddingResult:
    model: str
    vectors: np.ndarray[Any, np.dtype[np.float32]]  # one L2-normalised row per input, in order
    prompt_tokens: int


class Embeddings:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.model = model_id(ctx.cfg.embedding_model)

    @property
    def created(self) -> int:
        return model_created(self.ctx.cfg.embedding_model)

    def serves(self, model: str) -> bool:
        return model == self.model or (model in OPENAI_NAMES and not self.ctx.cfg.strict_models)

    async def create(self, model: str, inputs: list[str] | list[list[int]],
                     dimensions: int | None) -> EmbeddingResult:
        """Every input of the request in one embed call, on a worker thread (the model loads on
        the first call)."""
        if not self.serves(model):
            raise UnknownModel(model, f"; the embedding model is '{self.model}'")
        return await off_loop(self._embed, inputs, dimensions)

    def _embed(self, inputs: list[str] | list[list[int]], dimensions: int | None
               ) -> EmbeddingResult:
        embedder: Embedder = self.ctx.background.search.embedder
        if dimensions is not None and dimensions != embedder.dim:
            raise InvalidRequest(
                f"The model '{self.model}' makes {embedder.dim}-dimensional embeddings and cannot "
                f"shorten them: 'dimensions' must be {embedder.dim} or left out.",
                param="dimensions", code="invalid_value")
        texts = [self._decode(embedder, x) if isinstance(x, list) else x for x in inputs]
        # usage counts the word pieces the model read: longer inputs are cut at its window.
        vectors, counts = embedder.embed_counted(texts)
        return EmbeddingResult(self.model, vectors, sum(counts))

    def _decode(self, embedder: Embedder, ids: list[int]) -> str:
        """A token array holds the embedding tokenizer's ids; the text they spell is embedded."""
        vocab = len(embedder.tokenizer)
        bad = next((t for t in ids if not 0 <= t < vocab), None)
        if bad is not None:
            raise InvalidRequest(
                f"Invalid 'input': token {bad} is not in the vocabulary of '{self.model}' "
                f"(ids 0 to {vocab - 1}).", param="input", code="invalid_value")
        return str(embedder.tokenizer.decode(ids))
