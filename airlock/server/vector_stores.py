"""/v1/vector_stores: create, read, update, list, delete, and search."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.engine import search, vector_stores
from airlock.engine.service import Engine
from airlock.engine.store import Store
from airlock.server.deps import engine, store
from airlock.server.pagination import page_params
from airlock.server.responses import WireJSON, deleted, list_page
from airlock.server.wire.common import dump, dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.vector_stores import VectorStoreCreate, VectorStoreSearch, VectorStoreUpdate

router = APIRouter(prefix="/v1/vector_stores")


@router.post("")
async def create_vector_store(body: VectorStoreCreate, eng: Engine = Depends(engine)) -> WireJSON:
    return WireJSON(render("vector_store", await eng.ingest(vector_stores.create, dump_fields(body))))


@router.get("/{vector_store_id}")
async def retrieve_vector_store(vector_store_id: str, db: Store = Depends(store)) -> WireJSON:
    return WireJSON(render("vector_store", await db.read(vector_stores.get, vector_store_id)))


@router.post("/{vector_store_id}")
async def update_vector_store(
    vector_store_id: str, body: VectorStoreUpdate, db: Store = Depends(store)
) -> WireJSON:
    row = await db.write(vector_stores.update, vector_store_id, dump_fields(body))
    return WireJSON(render("vector_store", row))


@router.get("")
async def list_vector_stores(page=Depends(page_params()), db: Store = Depends(store)) -> WireJSON:
    rows, more = await db.read(vector_stores.page, page)
    return list_page(render_all("vector_store", rows), more)


@router.delete("/{vector_store_id}")
async def delete_vector_store(vector_store_id: str, eng: Engine = Depends(engine)) -> WireJSON:
    await eng.delete_vector_store(vector_store_id)
    return deleted(vector_store_id, "vector_store.deleted")


@router.post("/{vector_store_id}/search")
async def search_vector_store(
    vector_store_id: str, body: VectorStoreSearch, db: Store = Depends(store),
    eng: Engine = Depends(engine),
) -> WireJSON:
    await db.read(vector_stores.get, vector_store_id)
    queries = [body.query] if isinstance(body.query, str) else body.query
    if body.rewrite_query:
        queries = [search.rewrite(q) for q in queries]
    ranking = body.ranking_options
    results = await eng.search_stores(
        [vector_store_id], queries if len(queries) > 1 else queries[0],
        k=body.max_num_results, threshold=ranking.score_threshold if ranking else 0.0,
        flt=dump(body.filters) if body.filters else None,
        # "none" turns fusion off: the semantic ranking alone.
        mode="vector" if ranking and ranking.ranker == "none" else "hybrid")
    return WireJSON({
        "object": "vector_store.search_results.page",
        "search_query": " ".join(queries),
        "data": [{"file_id": r.file_id, "filename": r.filename, "score": r.score,
                  "attributes": r.attributes or {}, "content": [{"type": "text", "text": r.text}]}
                 for r in results],
        "has_more": False,
        "next_page": None,
    })
