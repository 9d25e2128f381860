"""A feed of one run's events, as a stream reads it (the engine's event hub delivers them)."""

from __future__ import annotations

from typing import Protocol

from airlock.engine.events import Event


class Feed(Protocol):
    async def next(self) -> Event:
        """The next event (name, data), waiting for it."""

    def close(self) -> None:
        """Stops the feed; events after it are not kept."""
