"""The two embedding runtimes (OpenVINO, the default; PyTorch, the fallback) and the windows
that overlapping chunks share (issue 15), with the real all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest

from airlock.tools.file_search import Chunked, Embedder, SearchIndex, chunk
from airlock.tools.file_search.chunking import shared_windows, window_starts
from fs_helpers import ready_store

# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def fast(models_dir) -> Embedder:
    # A fresh cache: the model is converted from the shipped weights right here.
    return Embedder(cache_dir=models_dir)


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


# A small fixed corpus: one topic per file, and questions that paraphrase one of them.
CORPUS = {
    "bees": "Honey bees communicate the direction of flowers with a waggle dance on the comb.",
    "tides": "Tides rise and fall twice a day because the Moon's gravity pulls on the oceans.",
    "bread": "Sourdough bread rises thanks to wild yeast and lactic acid bacteria in the starter.",
    "rust": "Iron rusts when it reacts with oxygen and water, forming hydrated iron oxide.",
    "chess": "In chess, castling moves the king two squares toward a rook at the same time.",
    "volcano": "Magma that reaches the surface through a volcano erupts as lava and ash.",
    "sleep": "Adults need seven to nine hours of sleep a night to stay alert and healthy.",
    "piano": "A grand piano has eighty-eight keys, fifty-two white and thirty-six black.",
}
QUESTIONS = {
    "How do bees tell each other where the flowers are?": "bees",
    "Why does the sea level change during the day?": "tides",
    "What makes sourdough rise?": "bread",
    "What happens to iron left out in the rain?": "rust",
    "Which move shifts the king and a rook together?": "chess",
    "What comes out when a volcano erupts?": "volcano",
    "How much rest should a grown-up get each night?": "sleep",
    "How many keys are on a piano?": "piano",
}


# -- the runtimes --------------------------------------------------------------------------


def test_fast_runtime_is_openvino(fast):
    assert fast.backend == "openvino"
    assert fast.describe().startswith("OpenVINO")


def test_fast_and_torch_rank_the_same_top_result(tmp_path, fast, torch_embedder):
    tops = {}
    for name, embedder in (("fast", fast), ("torch", torch_embedder)):
        index = SearchIndex(tmp_path / name, embedder)
        for file_id, text in CORPUS.items():
            index.add_file("vs", file_id, [text])
        tops[name] = {q: index.search(["vs"], q, k=3, mode="vector")[0].file_id for q in QUESTIONS}
        index.close()
    assert tops["fast"] == tops["torch"] == QUESTIONS


def test_vectors_agree_with_pytorch(fast, torch_embedder):
    texts = list(CORPUS.values()) + list(QUESTIONS) + ["word " * 300]  # one past the window
    a, b = fast.embed(texts), torch_embedder.embed(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert float((a * b).sum(axis=1).min()) > 0.999


def test_both_runtimes_count_the_pieces_they_read(fast, torch_embedder):
    texts = ["hello world", "word " * 300, "Don't panic."]
    counts = [fast.embed_counted(texts)[1], torch_embedder.embed_counted(texts)[1]]
    assert counts[0] == counts[1] == [2, 254, 5]  # the long one cut at the 256-piece window


def test_unusable_cache_falls_back_to_pytorch(tmp_path, caplog):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache directory would go")
    with caplog.at_level(logging.WARNING, logger="airlock.file_search"):
        embedder = Embedder(cache_dir=blocked)
    assert embedder.backend == "torch"
    assert embedder.embed(["still embeds"]).shape == (1, 384)
    assert any("embedding on PyTorch" in r.getMessage() for r in caplog.records)
    with pytest.raises(OSError):
        Embedder(cache_dir=blocked, backend="openvino")  # asked for explicitly: no fallback


def test_converted_model_is_cached(models_dir, fast, caplog):
    made = sorted(p.name for p in models_dir.iterdir())
    assert len(made) == 1 and (models_dir / made[0] / "model.xml").is_file()
    with caplog.at_level(logging.INFO, logger="airlock.file_search"):
        again = Embedder(cache_dir=models_dir)
    assert again.backend == "openvino"
    assert not any("converting" in r.getMessage() for r in caplog.records)
    assert sorted(p.name for p in models_dir.iterdir()) == made


# -- shared windows ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_shared_windows_cover_every_chunk_from_inside(seed):
    rng = random.Random(seed)
    for _ in range(200):
        n, size = rng.randint(1, 3000), rng.randint(8, 200)
        max_tokens = rng.randint(1, 1200)
        overlap, min_overlap = rng.randint(0, max_tokens - 1), rng.randint(0, size // 4)
        ranges = [(s, min(s + max_tokens, n)) for s in window_starts(n, max_tokens, overlap)]
        windows = shared_windows(ranges, max_tokens - overlap, size, min_overlap)
        assert len({(a, b) for a, b, _, _ in windows}) == len(windows)  # each embedded once
        covered: list[set[int]] = [set() for _ in ranges]
        for a, b, first, last in windows:
            assert 0 < b - a <= size
            for j, (cs, ce) in enumerate(ranges):
                # Given to exactly the chunks that hold it whole.
                assert (first <= j <= last) == (cs <= a and b <= ce)
            for j in range(first, last + 1):
                covered[j].update(range(a, b))
        assert all(covered[j] == set(range(cs, ce)) for j, (cs, ce) in enumerate(ranges))


def test_default_chunking_embeds_far_fewer_windows():
    ranges = [(s, min(s + 800, 20000)) for s in window_starts(20000, 800, 400)]
    shared = shared_windows(ranges, 400, 128, 24)
    alone = sum(len(window_starts(ce - cs, 128, 24)) for cs, ce in ranges)
    assert sum(b - a for a, b, _, _ in shared) <= 0.65 * 128 * alone


FILLER = ("The quarterly report covers routine matters of the office, supplies, schedules and "
          "the usual notes on meetings that were held during the period. ")
FACTS = [
    "The spare key to the boathouse hangs behind the painting of the lighthouse.",
    "Marigold the tortoise eats dandelion leaves every Thursday afternoon.",
    "The observatory telescope was recalibrated with a laser in February.",
    "Invoices from the glassblower must be approved by the harbour master.",
]


def test_a_chunked_document_finds_every_fact(tmp_path, fast):
    parts = []
    for i, fact in enumerate(FACTS):
        parts.append(FILLER * (9 + 4 * i))
        parts.append(fact + " ")
    doc = chunk("".join(parts) + FILLER * 6, fast.tokenizer, 800, 400)
    assert isinstance(doc, Chunked) and len(doc.ranges) >= 4
    index = SearchIndex(tmp_path / "index", fast)
    progress: list[tuple[int, int]] = []
    index.add_file("vs", "file-doc", doc, on_progress=lambda d, t: progress.append((d, t)))
    index.add_file("vs", "file-other", ["Volcanoes erupt lava.", "Bees dance."])
    assert index.chunks("vs", "file-doc") == doc.chunks
    assert progress[-1] == (len(doc.ranges), len(doc.ranges))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    questions = ["Where is the spare key to the boathouse?", "What does Marigold the tortoise eat?",
                 "When was the observatory telescope recalibrated?",
                 "Who approves the glassblower's invoices?"]
    for fact, question in zip(FACTS, questions, strict=True):
        hits = index.search(["vs"], question, k=3, mode="vector")
        assert hits[0].file_id == "file-doc" and fact in hits[0].text, question
    index.close()


# -- through the server ----------------------------------------------------------------------


def test_server_embeds_on_openvino_and_says_so(fs_server, fs_client):
    parts = []
    for i, fact in enumerate(FACTS):
        parts.append(FILLER * (3 + i))
        parts.append(fact + " ")
    # Small overlapping chunks: many windows shared between neighbours.
    store, _ = ready_store(fs_client, {"report.txt": "".join(parts).encode()}, chunking_strategy={
        "type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 100}})
    for fact in FACTS:
        results = fs_client.vector_stores.search(vector_store_id=store.id, query=fact).data
        assert results and any(fact in c.text for c in results[0].content), fact
    fs_server.wait_for_log("on OpenVINO")
    models = fs_server.data_dir / "index" / "models"
    assert [p for p in models.iterdir() if (p / "model.xml").is_file()], "no converted model cached"
