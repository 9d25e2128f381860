"""/v1/models: the chat models the registry serves, and the embedding model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from airlock.server.deps import services
from airlock.server.json_response import WireJSON
from airlock.service import ModelCard, Services

router = APIRouter(prefix="/v1/models")


def _model(card: ModelCard) -> dict[str, Any]:
    return {"id": card.id, "object": "model", "created": card.created, "owned_by": "airlock"}


@router.get("")
async def list_models(svc: Services = Depends(services)) -> WireJSON:
    return WireJSON({"object": "list", "data": [_model(e) for e in svc.models.all()]})


@router.get("/{model:path}")
async def retrieve_model(model: str, svc: Services = Depends(services)) -> WireJSON:
    return WireJSON(_model(svc.models.retrieve(model)))
