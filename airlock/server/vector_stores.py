"""/v1/vector_stores: create, read, update, list, delete, and search."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON, deleted, list_page
from airlock.server.pagination import page_params
from airlock.server.wire.common import dump, dump_fields
from airlock.server.wire.objects import render, render_all
from airlock.server.wire.vector_stores import VectorStoreCreate, VectorStoreSearch, VectorStoreUpdate
from airlock.service import PageParams, Services
from airlock.service import commands as cmd

router = APIRouter(prefix="/v1/vector_stores")


@router.post("")
async def create_vector_store(body: VectorStoreCreate,
                              svc: Services = Depends(services)) -> WireJSON:
    command = cast(cmd.NewVectorStore, dump_fields(body))
    return WireJSON(render("vector_store", await svc.vector_stores.create(command)))


@router.get("/{vector_store_id}")
async def retrieve_vector_store(vector_store_id: str,
                                svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(render("vector_store", await svc.vector_stores.retrieve(vector_store_id)))


@router.post("/{vector_store_id}")
async def update_vector_store(vector_store_id: str, body: VectorStoreUpdate,
                              svc: Services = Depends(services)) -> WireJSON:
    row = await svc.vector_stores.update(vector_store_id, cast(cmd.NewVectorStore, dump_fields(body)))
    return WireJSON(render("vector_store", row))


@router.get("")
async def list_vector_stores(page: PageParams = Depends(page_params()),
                             svc: Services = Depends(services)) -> WireJSON:
    rows, more = await svc.vector_stores.page(page)
    return list_page(render_all("vector_store", rows), more)


@router.delete("/{vector_store_id}")
async def delete_vector_store(vector_store_id: str,
                              svc: Services = Depends(services)) -> WireJSON:
    await svc.vector_stores.delete(vector_store_id)
    return deleted(vector_store_id, "vector_store.deleted")


@router.post("/{vector_store_id}/search")
async def search_vector_store(vector_store_id: str, body: VectorStoreSearch,
                              svc: Services = Depends(services)) -> WireJSON:
    ranking = body.ranking_options
    query, results = await svc.vector_stores.search(
        vector_store_id, [body.query] if isinstance(body.query, str) else body.query,
        rewrite_query=body.rewrite_query, k=body.max_num_results,
        threshold=ranking.score_threshold if ranking else 0.0,
        flt=dump(body.filters) if body.filters else None,
        # "none" turns fusion off: the semantic ranking alone.
        semantic_only=bool(ranking and ranking.ranker == "none"))
    return WireJSON({
        "object": "vector_store.search_results.page",
        "search_query": query,
        "data": [{"file_id": r.file_id, "filename": r.filename, "score": r.score,
                  "attributes": r.attributes or {}, "content": [{"type": "text", "text": r.text}]}
                 for r in results],
        "has_more": False,
        "next_page": None,
    })
