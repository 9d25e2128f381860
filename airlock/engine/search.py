"""file_search as the engine uses it: the lazily loaded index, and searches over vector stores.

Only files whose ingestion completed are searchable: a crash between a database commit and an
index write can leave stray chunks in the index, and they are filtered out here rather than
trusted.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from airlock.engine import filters
from airlock.settings import Settings
from airlock.store import Store, crud
from airlock.store import vector_stores as vs_queries
from airlock.store.pg_keywords import PgKeywordIndex
from airlock.store.records import Attributes, Filter
from airlock.store.tables import File
from airlock.tools.file_search import (
    BoundedParser,
    Embedder,
    FileRejected,
    ParseLimits,
    SearchIndex,
)

log = logging.getLogger("airlock.file_search")
# Fetched beyond max_num_results so that dropping stray or filtered chunks still leaves enough.
OVERFETCH = 2
_STOP = frozenset("""a an and are as at be by can could did do does for from had has have how i
in is it its me my of on or please should tell that the their them there these this to was
were what when where which who whom why will with would you your about any find show""".split())


@dataclass
class Result:
    store_id: str
    file_id: str
    filename: str
    score: float
    text: str
    attributes: Attributes | None


def parse_limits(cfg: Settings) -> ParseLimits:
    return ParseLimits(
        memory_mb=cfg.parse_memory_mb, timeout_s=cfg.parse_timeout_s,
        max_expanded_mb=cfg.parse_max_expanded_mb,
        max_compression_ratio=cfg.parse_max_compression_ratio,
        max_zip_members=cfg.parse_max_zip_members, max_text_mb=cfg.parse_max_text_mb)


class Search:
    def __init__(self, store: Store, root: Path, embedding_model: str | None = None,
                 limits: ParseLimits | None = None, chroma_url: str | None = None):
        self.store, self.root, self.embedding_model = store, root, embedding_model
        self.chroma_url = chroma_url  # a Chroma server instead of the embedded index
        # Every parse of an uploaded file (ingestion, files.content) goes through this: a
        # child process within the limits, never this one.
        self.parser = BoundedParser(limits)
        self._index: SearchIndex | None = None
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()
        self._embedder_lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The one copy of the embedding model: file_search and /v1/embeddings share it. It
        loads on first use, without the indexes (an embeddings request needs none)."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    # A converted copy of the model for the fast runtime is cached here.
                    self._embedder = Embedder(self.embedding_model, cache_dir=self.root / "models")
        return self._embedder

    def loaded_embedder(self) -> Embedder | None:
        """The embedder if it is loaded already (no wait), else None."""
        return self._embedder

    @property
    def index(self) -> SearchIndex:
        """The embedder and indexes load on first use: a server that never searches never pays."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    log.info("loading the embedding model and search indexes from %s", self.root)
                    # Replicas on PostgreSQL share the keyword index there (full-text search).
                    keywords = PgKeywordIndex(self.store.engine) if self.store.is_shared else None
                    self._index = SearchIndex(self.root, self.embedder, self.chroma_url,
                                              keywords=keywords)
        return self._index

    @property
    def tokenizer(self) -> Any:
        """Chunk sizes count the embedding model's word pieces."""
        return self.embedder.tokenizer

    def nearest(self, store_ids: list[str], query: str) -> tuple[float, int]:
        """(the highest cosine similarity of the query to any window of the stores' completed
        files, how many such files there are): the evidence of engine.core.decisions."""
        with self.store.read_conn() as conn:
            rows = vs_queries.completed_files(conn, store_ids)
        file_ids = {r.id for r in rows}
        if not file_ids:
            return 0.0, 0
        return self.index.nearest(store_ids, query, file_ids), len(file_ids)

    def search(self, store_ids: list[str], query: str | list[str], *, k: int,
               threshold: float = 0.0, flt: Filter | None = None,
               mode: str = "hybrid") -> list[Result]:
        with self.store.read_conn() as conn:
            rows = vs_queries.completed_files(conn, store_ids)
        allowed = {(r.vector_store_id, r.id): r.attributes for r in rows
                   if flt is None or filters.matches(flt, r.attributes)}
        if not allowed:
            return []
        file_ids = {file_id for _, file_id in allowed} if flt is not None else None
        hits = self.index.search(store_ids, query, k=k * OVERFETCH, file_ids=file_ids, mode=mode)
        hits = [h for h in hits if (h.store_id, h.file_id) in allowed and h.score >= threshold][:k]
        with self.store.begin() as conn:
            vs_queries.touch(conn, store_ids)
            t = crud.table_of(File)
            names = dict(conn.execute(select(t.c.id, t.c.filename).where(
                t.c.id.in_({h.file_id for h in hits}))).all()) if hits else {}
        return [Result(h.store_id, h.file_id, names.get(h.file_id, h.file_id), h.score, h.text,
                       allowed[(h.store_id, h.file_id)]) for h in hits]

    def _has_index(self) -> bool:
        # Deleting from an index that was never written must not load the embedding model.
        return self._index is not None or self.root.exists()

    def drop_file(self, store_ids: list[str], file_id: str) -> None:
        if not store_ids or not self._has_index():
            return
        for store_id in store_ids:
            self.index.delete_file(store_id, file_id)

    def drop_store(self, store_id: str) -> None:
        if self._has_index():
            self.index.delete_store(store_id)

    def document_text(self, path: Path, filename: str) -> str | None:
        """A file's text as search sees it (parsed, not chunked), or None when it has none."""
        try:
            return self.parser.extract_text(path, filename)
        except FileRejected:
            return None

    def close(self) -> None:
        self.parser.close()
        if self._index is not None:
            self._index.close()


def rewrite(query: str) -> str:
    """A keyword form of a question (rewrite_query): its words minus function words."""
    words = re.findall(r"\w+", query.lower())
    kept = [w for w in words if w not in _STOP]
    return " ".join(kept or words)
