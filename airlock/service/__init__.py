"""The service layer: one module per resource, each owning its transactions and their side
effects (waking a worker, cleaning an index, stopping a kernel). The HTTP layer calls only
this package; see docs/architecture.md."""

from airlock.service.embeddings import EmbeddingResult
from airlock.service.feeds import Feed
from airlock.service.model_names import ModelCard
from airlock.service.paging import PageParams
from airlock.service.runs import STREAM_ENDS
from airlock.service.services import Services

__all__ = ["STREAM_ENDS", "EmbeddingResult", "Feed", "ModelCard", "PageParams", "Services"]
