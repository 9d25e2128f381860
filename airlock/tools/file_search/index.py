"""Hybrid retrieval over vector stores: Chroma (HNSW, cosine) plus SQLite FTS5 (BM25).

Scores. A search runs L ranked lists: one per query and retriever ("hybrid" runs both the
vector and the keyword retriever, "vector"/"keyword" only one), each a best-first list of
chunks. They are fused by reciprocal rank fusion, RRF(c) = sum over lists of 1 / (60 + rank),
rank starting at 1 and a list where c is absent contributing 0. Hit.score is RRF(c) divided
by the largest attainable value, L / 61, so it lies in (0, 1]:

- 1.0: ranked first by every list;
- in hybrid mode with one query, a chunk ranked first by one retriever and missed by the
  other scores 0.5; ranked 10th by both, 61/70 = 0.87;
- the score says how consistently high a chunk ranked, not how similar it is to the query
  in absolute terms, so a score_threshold keeps the chunks that the retrievers agree on.

Several queries (the server searches [the model's query, the user's message]) do not count
alike: each query's lists are weighted by (s_q / s_max) ** QUERY_WEIGHT_POWER, where s_q is the
query's best cosine similarity to any window searched and s_max the best of all the queries, so
the query that comes closest to the files counts fully and one that matches nothing in
particular (a small model writes "file_search", "1", or its tool's parameter description)
hardly counts. RRF then sums w / (60 + rank) and the score is divided by the largest
attainable value, sum(w) / 61. A single query, keyword mode, and stores without vectors weigh
every list 1, as above. The weight trusts closeness: a junk query that happens to match a file
well (a model writing "file search" to a store holding a guide to searching) counts fully.

Vectors. The embedding model reads only `embedder.window` word pieces, far fewer than a
chunk, so chunks are embedded as overlapping sub-windows that together cover all of each
chunk. A chunk's vector rank comes from its best window, so a fact at the end of a long chunk
is as findable as one at the start. A document given as chunking.Chunked is cut into windows
on one grid (chunking.shared_windows): a window lies wholly inside every chunk it belongs to,
and overlapping chunks share it, so each window is embedded and stored once (Chroma id
"{file_id}:{start}:{end}" in pieces, metadata chunk_index = first and chunk_last = last chunk
that holds it). Chunks given as bare strings are windowed one by one (id
"{file_id}:{chunk_index}:{w}", no chunk_last): the layout of indexes written before.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .chroma_client import open_client
from .chunking import Chunked, shared_windows, split
from .embedder import Embedder
from .keywords import ChunkKey, KeywordIndex

MODES = ("hybrid", "vector", "keyword")
RRF_K = 60
# Sub-window length in word pieces. all-MiniLM-L6-v2 was trained on 128-piece inputs and
# reads up to 256, but a long window dilutes one fact among its neighbours: for a sentence
# in the middle of an 800-token chunk, the best window's cosine to a question about it was
# 0.50 with 128-piece windows and 0.44 with 240-piece ones. Embedding cost per chunk is
# about the same (fewer pieces per window, more windows); the HNSW index holds ~2x entries.
_WINDOW_PIECES = 128
_WINDOW_OVERLAP = 24
# Stays under the model window: besides [CLS]/[SEP], a window that starts inside a word
# re-tokenizes a little longer than it was cut, and the model would truncate its end.
_WINDOW_MARGIN = 16
# Windows per embed() call during ingestion: a search waits for at most one such call.
_EMBED_BATCH = 16
# A chunk has several windows; ask HNSW for this many entries per wanted chunk at first. More
# than a chunk's own windows: HNSW's deeper results are approximate (at 240 entries, about 70%
# of an exact search's, measured on the retrieval eval), and fusion reads the vector list down
# to rank 60. 8 instead of 4 raised hybrid recall@5 on the eval's dev half from 0.82 to 0.85.
_WINDOWS_PER_CHUNK_GUESS = 8
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]*[A-Za-z0-9]")
# Chosen on the dev half of scripts/eval/retrieval_mixed.py (SmolLM2's and Qwen's own queries
# fused with the user's message); see the module docstring.
QUERY_WEIGHT_POWER = 8.0


@dataclass(frozen=True)
class Hit:
    store_id: str
    file_id: str
    chunk_index: int
    text: str
    score: float


def collection_name(store_id: str) -> str:
    """A Chroma collection name (3-512 chars of [A-Za-z0-9._-], alphanumeric at both ends)
    that differs for every store id; the two prefixes keep the mapping one-to-one."""
    if len(store_id) <= 500 and _SAFE_NAME.fullmatch(store_id):
        return "s-" + store_id
    return "h-" + hashlib.sha256(store_id.encode("utf-8", "surrogatepass")).hexdigest()


def query_weights(similarities: list[float]) -> list[float]:
    """Each query's weight from its best cosine similarity to the files searched: 1 for the
    closest, (s / s_max) ** QUERY_WEIGHT_POWER for the others (module docstring)."""
    best = max(similarities, default=0.0)
    if best <= 0.0:
        return [1.0] * len(similarities)
    return [(max(0.0, s) / best) ** QUERY_WEIGHT_POWER for s in similarities]


def _clean(text: str) -> str:
    # Lone surrogates (legal in JSON strings) cannot be encoded for SQLite or the tokenizer.
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def fuse(rankings: list[list[ChunkKey]], weights: list[float] | None = None
         ) -> list[tuple[ChunkKey, float]]:
    """Reciprocal rank fusion, each ranking counting its weight (1 by default), normalized to
    (0, 1] (see the module docstring), best first."""
    if weights is None:
        weights = [1.0] * len(rankings)
    totals: dict[ChunkKey, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking, start=1):
            totals[key] = totals.get(key, 0.0) + weight / (RRF_K + rank)
    best = sum(weights) / (RRF_K + 1)
    return sorted(((key, min(1.0, total / best)) for key, total in totals.items()),
                  key=lambda item: (-item[1], item[0]))


class SearchIndex:
    def __init__(self, root: Path, embedder: Embedder, chroma_url: str | None = None,
                 keywords: Any = None) -> None:
        from chromadb.errors import NotFoundError

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._embedder = embedder
        self._not_found = NotFoundError
        # `keywords`: another keyword index with KeywordIndex's methods (replicas on PostgreSQL
        # share one: airlock.store.pg_keywords); by default an FTS5 file under root.
        self._keywords = keywords or KeywordIndex(self.root / "keywords.sqlite3")
        self._client = open_client(self.root / "chroma", chroma_url)  # embedded, or a chroma server
        self._collections: dict[str, Any] = {}
        self._collections_lock = threading.Lock()
        # Serializes the swap of a file's entries (not the embedding before it), so two
        # writers never interleave a delete and an add for the same file.
        self._write_lock = threading.Lock()
        self._window = max(8, min(_WINDOW_PIECES, embedder.window - _WINDOW_MARGIN))
        self._window_overlap = min(_WINDOW_OVERLAP, self._window // 4)
        self._closed = False

    # -- Chroma collections -------------------------------------------------------------

    def _collection(self, store_id: str, *, create: bool) -> Any | None:
        name = collection_name(store_id)
        with self._collections_lock:
            col = self._collections.get(name)
            if col is not None:
                return col
            # embedding_function=None: Chroma then has no embedding function at all (its
            # default one downloads an ONNX model); every add and query passes vectors.
            if create:
                col = self._client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
            else:
                try:
                    col = self._client.get_collection(name, embedding_function=None)
                except self._not_found:
                    return None
            self._collections[name] = col
            return col

    def _forget(self, store_id: str) -> None:
        with self._collections_lock:
            self._collections.pop(collection_name(store_id), None)

    # -- writes -------------------------------------------------------------------------

    def _windows(self, chunks: list[str] | Chunked
                 ) -> tuple[list[str], list[tuple[int, int]], list[str]]:
        """Sub-window texts to embed, the (first, last) chunk each belongs to, their ids."""
        texts: list[str] = []
        owners: list[tuple[int, int]] = []
        ids: list[str] = []
        if isinstance(chunks, Chunked):
            for a, b, first, last in shared_windows(chunks.ranges, chunks.step, self._window,
                                                    self._window_overlap):
                texts.append(_clean(chunks.piece_text(a, b)))
                owners.append((first, last))
                ids.append(f"{a}:{b}")
            return texts, owners, ids
        for i, chunk in enumerate(chunks):
            pieces = split(chunk, self._embedder.tokenizer, self._window, self._window_overlap)
            if not pieces and chunk.strip():
                pieces = [chunk]  # text the tokenizer sees nothing in still gets an entry
            texts.extend(pieces)
            owners.extend([(i, i)] * len(pieces))
            ids.extend(f"{i}:{w}" for w in range(len(pieces)))
        return texts, owners, ids

    def add_file(self, store_id: str, file_id: str, chunks: list[str] | Chunked,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        """Index `chunks` as the whole content of (store_id, file_id), replacing any earlier
        content. on_progress(done, total) counts chunks whose windows are all embedded."""
        texts, owners, suffixes = self._windows(chunks)
        chunk_texts = [_clean(c) for c in (chunks.chunks if isinstance(chunks, Chunked) else chunks)]
        total = len(chunk_texts)
        # Windows come in chunk order; chunk j is done once the last window it owns is.
        last_window = [0] * total
        for w, (first, last) in enumerate(owners):
            for j in range(first, last + 1):
                last_window[j] = w
        parts: list[np.ndarray] = []
        for start in range(0, len(texts), _EMBED_BATCH):
            end = start + _EMBED_BATCH
            parts.append(self._embedder.embed(texts[start:end]))
            if on_progress is not None:
                on_progress(bisect.bisect_left(last_window, end), total)
        if not texts and on_progress is not None:
            on_progress(total, total)
        vectors = np.concatenate(parts) if parts else np.zeros((0, self._embedder.dim), np.float32)

        ids = [f"{file_id}:{suffix}" for suffix in suffixes]
        metadatas: list[dict[str, Any]] = [
            {"file_id": file_id, "chunk_index": first} if first == last else
            {"file_id": file_id, "chunk_index": first, "chunk_last": last}
            for first, last in owners]

        with self._write_lock:
            col = self._collection(store_id, create=bool(ids))
            if col is not None:
                col.delete(where={"file_id": file_id})
                step = self._client.get_max_batch_size()
                for s in range(0, len(ids), step):
                    col.add(ids=ids[s:s + step], embeddings=vectors[s:s + step],
                            metadatas=metadatas[s:s + step])
            self._keywords.replace_file(store_id, file_id, chunk_texts)

    def delete_file(self, store_id: str, file_id: str) -> None:
        with self._write_lock:
            col = self._collection(store_id, create=False)
            if col is not None:
                try:
                    col.delete(where={"file_id": file_id})
                except self._not_found:
                    self._forget(store_id)
            self._keywords.delete_file(store_id, file_id)

    def delete_store(self, store_id: str) -> None:
        with self._write_lock:
            self._forget(store_id)
            try:
                self._client.delete_collection(collection_name(store_id))
            except self._not_found:
                pass
            self._keywords.delete_store(store_id)

    # -- reads --------------------------------------------------------------------------

    def chunks(self, store_id: str, file_id: str) -> list[str]:
        return self._keywords.chunks(store_id, file_id)

    def count(self, store_id: str | None = None) -> int:
        return self._keywords.count(store_id)

    def _vector_ranking(self, cols: list[tuple[str, Any]], vector: np.ndarray, n: int,
                        where: dict | None) -> tuple[list[ChunkKey], float]:
        """Top n chunks by their best window's cosine distance, across stores, and the best
        window's cosine similarity (0 when there is none)."""
        best: dict[ChunkKey, float] = {}
        for store_id, col in cols:
            fetch = n * _WINDOWS_PER_CHUNK_GUESS
            found: dict[ChunkKey, float] = {}
            while True:
                try:
                    res = col.query(query_embeddings=[vector], n_results=fetch, where=where,
                                    include=["metadatas", "distances"])
                except self._not_found:  # the store was deleted meanwhile
                    self._forget(store_id)
                    break
                found = {}
                for meta, dist in zip(res["metadatas"][0], res["distances"][0], strict=False):
                    # Results come nearest first, so a chunk's first window is its best. A
                    # shared window counts for every chunk that holds it.
                    first = int(meta["chunk_index"])
                    for j in range(first, int(meta.get("chunk_last", first)) + 1):
                        found.setdefault((store_id, str(meta["file_id"]), j), dist)
                if len(found) >= n or len(res["ids"][0]) < fetch:
                    break
                fetch *= _WINDOWS_PER_CHUNK_GUESS  # chunks with many windows crowded the top
            for key, dist in found.items():
                if dist < best.get(key, float("inf")):
                    best[key] = dist
        ranking = sorted(best, key=lambda key: (best[key], key))[:n]
        return ranking, (1.0 - float(best[ranking[0]])) if ranking else 0.0

    def nearest(self, store_ids: list[str], query: str,
                file_ids: Collection[str] | None = None) -> float:
        """The highest cosine similarity between `query` and any window of the stores (0 when
        they hold none): how close the files come to the query in absolute terms, which the
        fused search score does not say (engine.retrieval_decision reads it)."""
        allowed = None if file_ids is None else sorted(set(file_ids))
        if not query.strip() or allowed == []:
            return 0.0
        where = None if allowed is None else (
            {"file_id": allowed[0]} if len(allowed) == 1 else {"file_id": {"$in": allowed}})
        vector = self._embedder.embed([_clean(query)])[0]
        best = 0.0
        for store_id in dict.fromkeys(store_ids):
            col = self._collection(store_id, create=False)
            if col is None:
                continue
            try:
                res = col.query(query_embeddings=[vector], n_results=1, where=where,
                                include=["distances"])
            except self._not_found:
                self._forget(store_id)
                continue
            for dist in res["distances"][0]:
                best = max(best, 1.0 - float(dist))
        return best

    def search(self, store_ids: list[str], query: str | list[str], *, k: int = 20,
               file_ids: Collection[str] | None = None, mode: str = "hybrid") -> list[Hit]:
        """Best chunks for `query` (or for all of a list of queries, fused) in the given
        stores, at most k, score in (0, 1] descending. file_ids, when given, is the set of
        files results may come from."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        queries = [_clean(q) for q in ([query] if isinstance(query, str) else query)]
        queries = [q for q in queries if q.strip()]
        stores = list(dict.fromkeys(store_ids))
        allowed = None if file_ids is None else sorted(set(file_ids))
        if k <= 0 or not queries or not stores or allowed == []:
            return []
        n = max(3 * k, 50)

        rankings: list[list[ChunkKey]] = []
        weights: list[float] = []
        per_query = [1.0] * len(queries)  # the queries' weights (module docstring)
        if mode in ("hybrid", "vector"):
            cols = [(s, c) for s in stores if (c := self._collection(s, create=False)) is not None]
            if cols:
                where = None if allowed is None else (
                    {"file_id": allowed[0]} if len(allowed) == 1 else {"file_id": {"$in": allowed}})
                similarities = []
                for vector in self._embedder.embed(queries):
                    ranking, similarity = self._vector_ranking(cols, vector, n, where)
                    rankings.append(ranking)
                    similarities.append(similarity)
                per_query = query_weights(similarities)
            else:
                rankings.extend([] for _ in queries)  # still counts toward the normalization
            weights += per_query
        if mode in ("hybrid", "keyword"):
            for q in queries:
                rankings.append(self._keywords.search(stores, q, n, allowed))
            weights += per_query

        top = fuse(rankings, weights)[:k]
        texts = self._keywords.texts([key for key, _ in top])
        # A key without text was deleted between the two reads; dropping it is correct.
        return [Hit(key[0], key[1], key[2], texts[key], score)
                for key, score in top if key in texts]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._collections_lock:
            self._collections.clear()
        self._keywords.close()
        self._client.close()
