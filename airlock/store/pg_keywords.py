"""file_search's keyword half on PostgreSQL full-text search, shared by every replica.

With SQLite, chunk texts and their BM25 indexes live in an FTS5 file in the data dir
(tools/file_search/keywords.py). Replicas sharing PostgreSQL keep them in `search_chunks`
instead, with a generated tsvector and a GIN index, so a file ingested by one replica is found,
and its chunks' text read, by all. Same interface as `KeywordIndex`; ranking is PostgreSQL's
ts_rank_cd over the same query items (match_items), not BM25, which the hybrid fusion (by rank,
RRF) barely notices.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import BindParameter, Engine, bindparam, delete, func, insert, select, text

from airlock.store import crud
from airlock.store.tables import SearchChunk
from airlock.tools.file_search.keywords import ChunkKey, match_items

# The text search configuration: English stemming ("warranties" finds "warranty") and
# unaccent-free, like the FTS5 side's porter tokenizer.
CONFIG = "english"


class PgKeywordIndex:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.t = crud.table_of(SearchChunk)

    def replace_file(self, store_id: str, file_id: str, texts: list[str]) -> None:
        t = self.t
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.store_id == store_id, t.c.file_id == file_id))
            if texts:
                conn.execute(insert(t), [{"store_id": store_id, "file_id": file_id,
                                          "chunk_index": i, "text": chunk}
                                         for i, chunk in enumerate(texts)])

    def delete_file(self, store_id: str, file_id: str) -> None:
        t = self.t
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.store_id == store_id, t.c.file_id == file_id))

    def delete_store(self, store_id: str) -> None:
        t = self.t
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.store_id == store_id))

    def chunks(self, store_id: str, file_id: str) -> list[str]:
        t = self.t
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.c.text).where(
                t.c.store_id == store_id, t.c.file_id == file_id).order_by(t.c.chunk_index))
                .scalars())

    def count(self, store_id: str | None = None) -> int:
        t = self.t
        q = select(func.count()).select_from(t)
        if store_id is not None:
            q = q.where(t.c.store_id == store_id)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def texts(self, keys: list[ChunkKey]) -> dict[ChunkKey, str]:
        if not keys:
            return {}
        t = self.t
        stores = sorted({k[0] for k in keys})
        files = sorted({k[1] for k in keys})
        wanted = set(keys)
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.store_id, t.c.file_id, t.c.chunk_index, t.c.text)
                                .where(t.c.store_id.in_(stores), t.c.file_id.in_(files))).all()
        return {(s, f, i): body for s, f, i, body in rows if (s, f, i) in wanted}

    def search(self, store_ids: list[str], query: str, limit: int,
               file_ids: Collection[str] | None = None) -> list[ChunkKey]:
        """Best-first chunk keys: any of the query's items (words, and phrases like "XQ 7731")."""
        items = match_items(query)
        if not items:
            return []
        tsquery = " || ".join(f"phraseto_tsquery('{CONFIG}', :i{n})" for n in range(len(items)))
        sql = (f"SELECT store_id, file_id, chunk_index, ts_rank_cd(tsv, q) AS rank "
               f"FROM search_chunks, (SELECT {tsquery} AS q) AS query "
               f"WHERE store_id IN :stores AND tsv @@ q")
        params: dict[str, object] = {f"i{n}": item for n, item in enumerate(items)}
        params["stores"] = list(dict.fromkeys(store_ids))
        binds: list[BindParameter[Any]] = [bindparam("stores", expanding=True)]
        if file_ids is not None:
            sql += " AND file_id IN :files"
            params["files"] = list(file_ids) or [""]
            binds.append(bindparam("files", expanding=True))
        sql += " ORDER BY rank DESC, store_id, file_id, chunk_index LIMIT :limit"
        params["limit"] = limit
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql).bindparams(*binds), params).all()
        return [(s, f, i) for s, f, i, _ in rows]

    def close(self) -> None:
        pass  # the store's engine outlives the index
