"""/v1/embeddings"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.wire.embeddings import EmbeddingCreate, EmbeddingsJSON, render
from airlock.service import Services

router = APIRouter(prefix="/v1/embeddings")


@router.post("")
async def create_embedding(body: EmbeddingCreate,
                           svc: Services = Depends(services)) -> EmbeddingsJSON:
    result = await svc.embeddings.create(body.model, body.inputs(), body.dimensions)
    return render(result, body.encoding_format)
