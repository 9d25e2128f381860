"""Models: the names the registry serves, and which entry serves a requested name."""

from __future__ import annotations

from airlock.errors import InvalidRequest, UnknownModel
from airlock.models.registry import ModelEntry, ModelNotFound
from airlock.service.context import Context


def resolve_model(ctx: Context, model: str) -> str:
    """The registry entry serving `model`: itself when configured, else the default model, or
    a 400 model_not_found under --strict-models."""
    try:
        return ctx.registry.resolve(model, strict=ctx.cfg.strict_models).name
    except ModelNotFound:
        raise InvalidRequest(
            f"The model '{model}' does not exist or you do not have access to it.",
            param="model", code="model_not_found",
        ) from None


class Models:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def all(self) -> list[ModelEntry]:
        return self.ctx.registry.entries()

    def retrieve(self, model: str) -> ModelEntry:
        try:
            return self.ctx.registry.get(model)
        except ModelNotFound:
            raise UnknownModel(model) from None
