"""What every resource service works with: the store, the settings, the model registry and the
engine's background machinery (workers to wake, indexes to clean, kernels to stop)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread

from airlock.engine.background import Background
from airlock.models.registry import Registry
from airlock.settings import Settings
from airlock.store import Store

T = TypeVar("T")


@dataclass
class Context:
    store: Store
    cfg: Settings
    registry: Registry
    background: Background

    async def write_queueing_files(self, fn: Callable[..., T], *args: Any) -> T:
        """A write that may queue files for ingestion (vector stores made or filled, message
        attachments for file_search): the ingestion workers hear of it at once."""
        result = await self.store.write(fn, *args)
        self.background.ingestor.wake()
        return result


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Blocking work (an index write, a kernel stop, disk I/O) on a worker thread."""
    return await anyio.to_thread.run_sync(fn, *args)
