"""The embeddings service's batcher: requests that wait while the model is busy go to it together,
each gets its own rows back, and a failed call fails only the requests that were in it."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from airlock.service.context import off_loop
from airlock.service.embeddings import _Batcher


class FakeEmbedder:
    """Row i of a call is [len(text), i]; the first call holds until `release` is set."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def embed_counted(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        self.calls.append(list(texts))
        self.entered.set()
        self.release.wait(timeout=30)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        rows = np.array([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)
        return rows, [len(t) for t in texts]


async def _busy_then_two_more(embedder: FakeEmbedder, batcher: _Batcher):
    first = asyncio.create_task(batcher.embed(embedder, ["a"]))  # type: ignore[arg-type]
    await off_loop(embedder.entered.wait, 30)  # the model is busy with the first
    second = asyncio.create_task(batcher.embed(embedder, ["bb", "ccc"]))  # type: ignore[arg-type]
    third = asyncio.create_task(batcher.embed(embedder, ["dddd"]))  # type: ignore[arg-type]
    # Both wait (their tasks ran before this thread hop returns); then the model is freed.
    await off_loop(embedder.release.set)
    return await asyncio.gather(first, second, third, return_exceptions=True)


def test_waiting_requests_share_one_call_and_get_their_own_rows():
    embedder = FakeEmbedder()
    first, second, third = asyncio.run(_busy_then_two_more(embedder, _Batcher()))
    assert embedder.calls == [["a"], ["bb", "ccc", "dddd"]]
    assert first[0].tolist() == [[1, 0]] and first[1] == [1]
    assert second[0].tolist() == [[2, 0], [3, 1]] and second[1] == [2, 3]
    assert third[0].tolist() == [[4, 2]] and third[1] == [4]


def test_a_failed_call_fails_only_its_requests():
    embedder = FakeEmbedder(fail_on="a")
    first, second, third = asyncio.run(_busy_then_two_more(embedder, _Batcher()))
    assert isinstance(first, RuntimeError)
    assert second[1] == [2, 3] and third[1] == [4]


def test_a_batch_stays_within_the_input_limit(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("airlock.service.embeddings.MAX_BATCH_INPUTS", 2)
    embedder = FakeEmbedder()
    asyncio.run(_busy_then_two_more(embedder, _Batcher()))
    assert embedder.calls == [["a"], ["bb", "ccc"], ["dddd"]]
