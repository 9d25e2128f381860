"""Request bodies of the vector store endpoints (stores, their files, batches, search)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from airlock.server.wire.common import ChunkingStrategy, FreeJson, Metadata, NullIsEmpty, Strict


def _check_attributes(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    if len(value) > 16:
        raise ValueError("attributes may hold at most 16 keys")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"attribute key '{key[:20]}...' is longer than 64 characters")
        if isinstance(item, str) and len(item) > 512:
            raise ValueError(f"attribute value for '{key}' is longer than 512 characters")
    return value


Attributes = Annotated[dict[str, str | bool | float] | None, FreeJson,
                       AfterValidator(_check_attributes)]


class ExpiresAfter(Strict):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class VectorStoreCreate(Strict):
    name: str | None = None
    description: str | None = None
    file_ids: Annotated[list[str], Field(max_length=500), NullIsEmpty] = []
    chunking_strategy: ChunkingStrategy | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class VectorStoreUpdate(Strict):
    name: str | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class VectorStoreFileCreate(Strict):
    file_id: str
    attributes: Attributes = None
    chunking_strategy: ChunkingStrategy | None = None


class VectorStoreFileUpdate(Strict):
    attributes: Attributes


class BatchFile(Strict):
    file_id: str
    attributes: Attributes = None
    chunking_strategy: ChunkingStrategy | None = None


class FileBatchCreate(Strict):
    file_ids: Annotated[list[str], Field(max_length=2000)] | None = None
    files: Annotated[list[BatchFile], Field(max_length=2000)] | None = None
    attributes: Attributes = None
    chunking_strategy: ChunkingStrategy | None = None


Scalar = str | bool | float
NonEmpty = Annotated[str, Field(min_length=1)]
Query = NonEmpty | Annotated[list[NonEmpty], Field(min_length=1)]


class ComparisonFilter(Strict):
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    key: str
    value: Scalar | list[str | float]


class CompoundFilter(Strict):
    type: Literal["and", "or"]
    filters: Annotated[list[ComparisonFilter | CompoundFilter], Field(min_length=1)]


class SearchRanking(Strict):
    ranker: Literal["none", "auto", "default-2024-11-15"] | None = None
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)


class VectorStoreSearch(Strict):
    query: Query
    filters: ComparisonFilter | CompoundFilter | None = None
    max_num_results: int = Field(10, ge=1, le=50)
    ranking_options: SearchRanking | None = None
    rewrite_query: bool = False
CompoundFilter.model_rebuild()
