"""The service layer: one module per resource, each owning its transactions and their side
effects (waking a worker, cleaning an index, stopping a kernel). The HTTP layer calls only
this package; see docs/architecture.md."""

from airlock.engine.events import Watch as Feed
from airlock.service.runs import STREAM_ENDS
from airlock.service.services import Services
from airlock.store.crud import PageParams

__all__ = ["STREAM_ENDS", "Feed", "PageParams", "Services"]
