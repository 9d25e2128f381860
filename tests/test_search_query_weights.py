"""file_search fusion of several queries: each query's lists count by how close the query comes
to the files, so a junk query written by a small model cannot bury what the user's message finds
(scripts/eval/retrieval_mixed.py measured it)."""

from __future__ import annotations

import pytest

from airlock.tools.file_search import Embedder, SearchIndex
from airlock.tools.file_search.index import QUERY_WEIGHT_POWER, fuse, query_weights


def test_fuse_without_weights_is_plain_rrf():
    a, b, c = ("s", "f", 0), ("s", "f", 1), ("s", "g", 0)
    assert fuse([[a, b], [b, c]]) == fuse([[a, b], [b, c]], [1.0, 1.0])
    (top, score), *_ = fuse([[a, b], [a, c]])
    assert top == a and score == 1.0


def test_a_weightless_list_adds_nothing():
    a, b = ("s", "f", 0), ("s", "g", 0)
    assert [k for k, _ in fuse([[a, b], [b, a]], [1.0, 0.0])] == [a, b]
    assert fuse([[a], [b]], [1.0, 0.0])[0] == (a, 1.0)


def test_query_weights_are_relative_to_the_closest_query():
    assert query_weights([0.5]) == [1.0]
    assert query_weights([0.0, 0.0]) == [1.0, 1.0]
    w = query_weights([0.3, 0.6])
    assert w[1] == 1.0 and w[0] == pytest.approx(0.5 ** QUERY_WEIGHT_POWER)
    assert query_weights([-0.1, 0.4]) == [0.0, 1.0]


def test_a_junk_model_query_does_not_reorder_what_the_users_question_finds(tmp_path):
    index = SearchIndex(tmp_path, Embedder())
    try:
        index.add_file("vs", "dishwasher.txt", [
            "Aquaclean dishwasher. Error E5: the water does not drain; clean the filters and "
            "check the drain hose."])
        index.add_file("vs", "search_guide.txt", [
            "How to use file search: type a few words and the tool finds passages in your files."])
        index.add_file("vs", "travel.txt", [
            "Travel policy: hotels up to 150 USD per night, meals 45 USD per day, economy flights."])
        question = "My dishwasher shows E5, what should I do?"
        alone = [h.file_id for h in index.search(["vs"], question, k=3)]
        # SmolLM2 wrote "1" for a question of the eval: it comes close to nothing, so it hardly
        # counts. With equal weights its vector list would lift travel.txt to second place.
        fused = [h.file_id for h in index.search(["vs"], ["1", question], k=3)]
        assert fused == alone and alone[0] == "dishwasher.txt"
        assert index.search(["vs"], ["1", question], k=1)[0].score == pytest.approx(1.0, abs=1e-6)
    finally:
        index.close()
