"""Token-bucket rate limiting for the public API gateway.

Each API key owns a bucket. A request takes one token; tokens flow back at a steady rate up to
the bucket's capacity, so short bursts are allowed while the long-run rate stays bounded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

DEFAULT_CAPACITY = 120
"""Tokens a new bucket holds: the largest burst a client can send at once."""

DEFAULT_REFILL_PER_SECOND = 10.0
"""Tokens added back per second, i.e. the sustained request rate."""


class RateLimitExceeded(Exception):
    """Raised when a bucket is empty. `retry_after` is the number of seconds until one token
    is available again; the gateway copies it into the Retry-After response header."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit exceeded, retry after {retry_after:.1f} s")
        self.retry_after = retry_after


@dataclass
class TokenBucket:
    capacity: int = DEFAULT_CAPACITY
    refill_per_second: float = DEFAULT_REFILL_PER_SECOND
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        elapsed = now - self.updated
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        self.updated = now

    def take(self, cost: int = 1) -> None:
        """Remove `cost` tokens or raise RateLimitExceeded. Expensive endpoints such as bulk
        export pass a cost of 5."""
        now = time.monotonic()
        self._refill(now)
        if self.tokens < cost:
            raise RateLimitExceeded((cost - self.tokens) / self.refill_per_second)
        self.tokens -= cost


class Limiter:
    """Buckets per API key. Keys on the internal allow-list are never limited. Buckets unused
    for 15 minutes are dropped to save memory."""

    IDLE_SECONDS = 900

    def __init__(self, allow_list: set[str] | None = None) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._allow = allow_list or set()
        self._lock = threading.Lock()

    def check(self, api_key: str, cost: int = 1) -> None:
        if api_key in self._allow:
            return
        with self._lock:
            bucket = self._buckets.setdefault(api_key, TokenBucket())
            bucket.take(cost)

    def sweep(self) -> int:
        """Forget idle buckets; returns how many were removed."""
        cutoff = time.monotonic() - self.IDLE_SECONDS
        with self._lock:
            idle = [k for k, b in self._buckets.items() if b.updated < cutoff]
            for k in idle:
                del self._buckets[k]
        return len(idle)
