"""Models: the names the registry serves, and which entry serves a requested name."""

from __future__ import annotations

from dataclasses import dataclass

from airlock.errors import InvalidRequest, UnknownModel
from airlock.models.registry import ModelNotFound
from airlock.service.context import Context
from airlock.service.embeddings import Embeddings


@dataclass(frozen=True)
class ModelCard:
    """A model as /v1/models shows it: a chat model of the registry or the embedding model."""
    id: str
    created: int


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
    def __init__(self, ctx: Context, embeddings: Embeddings):
        self.ctx = ctx
        self.embeddings = embeddings

    def all(self) -> list[ModelCard]:
        cards = [ModelCard(e.name, e.created) for e in self.ctx.registry.entries()]
        if all(c.id != self.embeddings.model for c in cards):
            cards.append(self._embedding_card())
        return cards

    def retrieve(self, model: str) -> ModelCard:
        try:
            entry = self.ctx.registry.get(model)
        except ModelNotFound:
            if model == self.embeddings.model:
                return self._embedding_card()
            raise UnknownModel(model) from None
        return ModelCard(entry.name, entry.created)

    def _embedding_card(self) -> ModelCard:
        return ModelCard(self.embeddings.model, self.embeddings.created)
