"""Embeddings: vectors of the file_search embedding model, the one copy file_search uses.

Wire behaviour: docs/wire/embeddings.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from airlock.errors import InvalidRequest, UnknownModel
from airlock.service.context import Context, off_loop
from airlock.tools.file_search import Embedder, model_created, model_id

# OpenAI's embedding models: code written for the hosted API names one of these, and gets the
# embedding model airlock has (unless --strict-models).
OPENAI_NAMES = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")
# Inputs of waiting requests joined into one embed call, at most (one request's maximum).
MAX_BATCH_INPUTS = 2048

Vectors = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True)
class EmbeddingResult:
    model: str
    vectors: Vectors  # one L2-normalised row per input, in order
    prompt_tokens: int


@dataclass
class _Job:
    texts: list[str]
    done: asyncio.Future[tuple[Vectors, list[int]]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class _Batcher:
    """Requests that arrive while the model is busy wait together, and their inputs go to it in
    one embed call: one sentence alone costs a forward pass almost as long as sixteen together.
    Runs on the event loop; the embed calls on a worker thread."""

    def __init__(self) -> None:
        self._waiting: list[_Job] = []
        self._draining = False
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only a weak one

    async def embed(self, embedder: Embedder, texts: list[str]) -> tuple[Vectors, list[int]]:
        job = _Job(texts)
        self._waiting.append(job)
        if not self._draining:
            self._draining = True
            self._task = asyncio.get_running_loop().create_task(self._drain(embedder))
        return await job.done

    async def _drain(self, embedder: Embedder) -> None:
        try:
            while self._waiting:
                jobs: list[_Job] = []
                n = 0
                while self._waiting and (not jobs or
                                         n + len(self._waiting[0].texts) <= MAX_BATCH_INPUTS):
                    jobs.append(self._waiting.pop(0))
                    n += len(jobs[-1].texts)
                try:
                    vectors, counts = await off_loop(
                        embedder.embed_counted, [t for job in jobs for t in job.texts])
                except Exception as exc:  # each waiting request fails with it, others go on
                    for job in jobs:
                        if not job.done.done():
                            job.done.set_exception(exc)
                    continue
                start = 0
                for job in jobs:
                    end = start + len(job.texts)
                    if not job.done.done():  # a cancelled request's vectors go nowhere
                        job.done.set_result((vectors[start:end], counts[start:end]))
                    start = end
        finally:
            self._draining = False


class Embeddings:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.model = model_id(ctx.cfg.embedding_model)
        self._batcher = _Batcher()

    @property
    def created(self) -> int:
        return model_created(self.ctx.cfg.embedding_model)

    def serves(self, model: str) -> bool:
        return model == self.model or (model in OPENAI_NAMES and not self.ctx.cfg.strict_models)

    async def create(self, model: str, inputs: list[str] | list[list[int]],
                     dimensions: int | None) -> EmbeddingResult:
        """The request's inputs in one embed call (with those of requests waiting beside it), on
        a worker thread; the model loads on the first call."""
        if not self.serves(model):
            raise UnknownModel(model, f"; the embedding model is '{self.model}'")
        embedder = self.ctx.background.search.loaded_embedder()
        if embedder is None:
            embedder = await off_loop(self._load)
        if dimensions is not None and dimensions != embedder.dim:
            raise InvalidRequest(
                f"The model '{self.model}' makes {embedder.dim}-dimensional embeddings and cannot "
                f"shorten them: 'dimensions' must be {embedder.dim} or left out.",
                param="dimensions", code="invalid_value")
        if any(isinstance(x, list) for x in inputs):
            texts = await off_loop(self._decode, embedder, inputs)
        else:
            texts = [x for x in inputs if isinstance(x, str)]
        # usage counts the word pieces the model read: longer inputs are cut at its window.
        vectors, counts = await self._batcher.embed(embedder, texts)
        return EmbeddingResult(self.model, vectors, sum(counts))

    def _load(self) -> Embedder:
        return self.ctx.background.search.embedder

    def _decode(self, embedder: Embedder, inputs: list[str] | list[list[int]]) -> list[str]:
        """Token arrays hold the embedding tokenizer's ids; the text they spell is embedded."""
        vocab = len(embedder.tokenizer)
        texts = []
        for ids in inputs:
            if isinstance(ids, str):
                texts.append(ids)
                continue
            bad = next((t for t in ids if not 0 <= t < vocab), None)
            if bad is not None:
                raise InvalidRequest(
                    f"Invalid 'input': token {bad} is not in the vocabulary of '{self.model}' "
                    f"(ids 0 to {vocab - 1}).", param="input", code="invalid_value")
            texts.append(str(embedder.tokenizer.decode(ids)))
        return texts
