"""/v1/models: the names the model registry serves."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airlock.errors import UnknownModel
from airlock.models.registry import ModelEntry, ModelNotFound, Registry
from airlock.server.deps import registry
from airlock.server.responses import WireJSON

router = APIRouter(prefix="/v1/models")


def _model(entry: ModelEntry) -> dict:
    return {"id": entry.name, "object": "model", "created": entry.created, "owned_by": "airlock"}


@router.get("")
def list_models(reg: Registry = Depends(registry)) -> WireJSON:
    return WireJSON({"object": "list", "data": [_model(e) for e in reg.entries()]})


@router.get("/{model:path}")
def retrieve_model(model: str, reg: Registry = Depends(registry)) -> WireJSON:
    try:
        return WireJSON(_model(reg.get(model)))
    except ModelNotFound:
        raise UnknownModel(model) from None
