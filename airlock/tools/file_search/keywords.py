"""Chunk texts and their BM25 keyword indexes in one SQLite file (FTS5).

`chunks` holds every chunk's text: the source of truth for Hit.text, chunks() and count().
Each vector store has its own FTS5 table over those rows (external content), so BM25
statistics are per store, as they would be with separate indexes, and a search never has
to filter other stores' matches out row by row.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

ChunkKey = tuple[str, str, int]  # (store_id, file_id, chunk_index)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (store_id, file_id, chunk_index)
);
CREATE TABLE IF NOT EXISTS stores (
    store_id TEXT PRIMARY KEY,
    fts TEXT NOT NULL UNIQUE
);
"""
# Porter folds inflections ("warranties" finds "warranty"); unicode61 + remove_diacritics
# makes "resume" find "résumé".
_TOKENIZE = "porter unicode61 remove_diacritics 2"

# Words that match nearly every chunk: they add no ranking signal but make FTS5 score every
# row, which is what would make a query slow on a large store.
_STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its itself just me more
most my no nor not of off on once only or other our ours out over own same she should so
some such than that the their theirs them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would
you your yours
""".split())
_WORD = re.compile(r"\w+")
_MAX_TERMS = 24
# BM25 scores every row a term matches, ~1 us per row here: a term found in 100k chunks
# costs ~100 ms per query. Terms in more chunks than this are dropped from a store's query
# (a word that common carries little weight in BM25 anyway); if every term is that common,
# the keyword retriever returns nothing for the store and the vector retriever decides.
FREQUENT_TERM_CHUNKS = 20_000


def match_items(query: str) -> list[str]:
    """The query's searchable items: its words, plus for tokens like "XQ-7731" the exact
    phrase "XQ 7731", lowercased, deduplicated, stopwords dropped unless nothing else is left.
    Items contain only word characters and spaces, so quoting them can never be broken out of."""
    items: list[str] = []
    for token in query.split():
        parts = _WORD.findall(token)
        if len(parts) > 1:
            items.append(" ".join(parts))
        items.extend(parts)
    unique = list(dict.fromkeys(item.lower() for item in items))
    return ([t for t in unique if t not in _STOPWORDS] or unique)[:_MAX_TERMS]


def _quoted(item: str) -> str:
    return f'"{item}"'


def _fts_name(store_id: str) -> str:
    # A hash, not the id: table names cannot be bound as parameters.
    return "fts_" + hashlib.sha256(store_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class KeywordIndex:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        # SQLite allows one writer; queueing writers here avoids busy-timeout spinning.
        self._write_lock = threading.Lock()
        self._closed = False
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # A small pool instead of one shared connection: WAL lets readers run while a
        # writer commits, but only if they do not share a connection with it.
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("index is closed")
            conn = self._pool.pop() if self._pool else self._open()
        try:
            yield conn
        finally:
            with self._pool_lock:
                if self._closed:
                    conn.close()
                else:
                    self._pool.append(conn)

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            if write:
                self._write_lock.acquire()
            try:
                # Reads too run in a transaction: one snapshot, so a store dropped meanwhile
                # is either wholly there or wholly gone.
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if write:
                    self._write_lock.release()

    @staticmethod
    def _fts(conn: sqlite3.Connection, store_id: str) -> str | None:
        row = conn.execute("SELECT fts FROM stores WHERE store_id = ?", (store_id,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _unindex_file(conn: sqlite3.Connection, fts: str, store_id: str, file_id: str) -> None:
        # External-content FTS5 forgets a row only when told its old text.
        conn.execute(
            f"INSERT INTO {fts}({fts}, rowid, text) SELECT 'delete', id, text FROM chunks "
            "WHERE store_id = ? AND file_id = ?", (store_id, file_id))
        conn.execute("DELETE FROM chunks WHERE store_id = ? AND file_id = ?", (store_id, file_id))

    def replace_file(self, store_id: str, file_id: str, texts: list[str]) -> None:
        with self._transaction(write=True) as conn:
            fts = self._fts(conn, store_id)
            if fts is None:
                fts = _fts_name(store_id)
                conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5("
                             f"text, content='chunks', content_rowid='id', tokenize='{_TOKENIZE}')")
                conn.execute("INSERT INTO stores (store_id, fts) VALUES (?, ?)", (store_id, fts))
            self._unindex_file(conn, fts, store_id, file_id)
            conn.executemany(
                "INSERT INTO chunks (store_id, file_id, chunk_index, text) VALUES (?, ?, ?, ?)",
                ((store_id, file_id, i, t) for i, t in enumerate(texts)))
            conn.execute(f"INSERT INTO {fts}(rowid, text) SELECT id, text FROM chunks "
                         "WHERE store_id = ? AND file_id = ?", (store_id, file_id))

    def delete_file(self, store_id: str, file_id: str) -> None:
        with self._transaction(write=True) as conn:
            fts = self._fts(conn, store_id)
            if fts is not None:
                self._unindex_file(conn, fts, store_id, file_id)

    def delete_store(self, store_id: str) -> None:
        with self._transaction(write=True) as conn:
            fts = self._fts(conn, store_id)
            if fts is not None:
                conn.execute(f"DROP TABLE IF EXISTS {fts}")
                conn.execute("DELETE FROM stores WHERE store_id = ?", (store_id,))
            conn.execute("DELETE FROM chunks WHERE store_id = ?", (store_id,))

    def chunks(self, store_id: str, file_id: str) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT text FROM chunks WHERE store_id = ? AND file_id = ? ORDER BY chunk_index",
                (store_id, file_id)).fetchall()
        return [r[0] for r in rows]

    def count(self, store_id: str | None = None) -> int:
        with self._connection() as conn:
            if store_id is None:
                return conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            return conn.execute("SELECT COUNT(*) FROM chunks WHERE store_id = ?",
                                (store_id,)).fetchone()[0]

    def texts(self, keys: list[ChunkKey]) -> dict[ChunkKey, str]:
        out: dict[ChunkKey, str] = {}
        with self._connection() as conn:
            for key in keys:
                row = conn.execute(
                    "SELECT text FROM chunks WHERE store_id = ? AND file_id = ? AND chunk_index = ?",
                    key).fetchone()
                if row is not None:
                    out[key] = row[0]
        return out

    @staticmethod
    def _selective(conn: sqlite3.Connection, fts: str, store_id: str, items: list[str]) -> list[str]:
        """items minus single words found in more than FREQUENT_TERM_CHUNKS chunks."""
        size = conn.execute("SELECT COUNT(*) FROM chunks WHERE store_id = ?", (store_id,)).fetchone()[0]
        if size <= FREQUENT_TERM_CHUNKS:
            return items
        kept = []
        for item in items:
            # Counting stops at the cap: reading a doclist is cheap, scoring it is not.
            n = conn.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {fts} WHERE {fts} MATCH ? "
                             "LIMIT ?)", (_quoted(item), FREQUENT_TERM_CHUNKS + 1)).fetchone()[0]
            # A phrase is selective even when its words are not.
            if " " in item or n <= FREQUENT_TERM_CHUNKS:
                kept.append(item)
        return kept

    def search(self, store_ids: list[str], query: str, limit: int,
               file_ids: Collection[str] | None = None) -> list[ChunkKey]:
        """Best-first chunk keys by BM25 (each store's list merged by score)."""
        items = match_items(query)
        if not items:
            return []
        scored: list[tuple[float, int]] = []
        with self._transaction(write=False) as conn:
            for store_id in dict.fromkeys(store_ids):
                fts = self._fts(conn, store_id)
                kept = self._selective(conn, fts, store_id, items) if fts else []
                if not kept:
                    continue
                sql = f"SELECT bm25({fts}), rowid FROM {fts} WHERE {fts} MATCH ?"
                params: list[object] = [" OR ".join(map(_quoted, kept))]
                if file_ids is not None:
                    sql += (" AND rowid IN (SELECT id FROM chunks WHERE store_id = ? AND "
                            "file_id IN (SELECT value FROM json_each(?)))")
                    params += [store_id, json.dumps(list(file_ids))]
                scored += conn.execute(sql + " ORDER BY 1 LIMIT ?", [*params, limit]).fetchall()
            scored.sort()  # bm25() is negated: lower is better
            return [conn.execute("SELECT store_id, file_id, chunk_index FROM chunks WHERE id = ?",
                                 (rowid,)).fetchone() for _, rowid in scored[:limit]]

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            for conn in self._pool:
                conn.close()
            self._pool.clear()
