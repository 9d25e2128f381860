"""Retries with exponential backoff and a simple circuit breaker for outgoing HTTP calls.

Used by the payment and shipping clients. Only idempotent requests should be retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

BASE_DELAY = 0.5
"""Seconds to wait before the first retry; each later retry waits twice as long."""

MAX_DELAY = 20.0
"""No single wait is longer than this many seconds."""

MAX_ATTEMPTS = 5
"""Attempts in total, the first call included."""

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class CircuitOpen(Exception):
    """The breaker is open: calls fail at once without touching the remote service."""


class CircuitBreaker:
    """Opens after `threshold` consecutive failures and stays open for `cooldown` seconds.
    After the cooldown one trial call is let through (half-open); success closes it again."""

    def __init__(self, threshold: int = 8, cooldown: float = 30.0) -> None:
        self.threshold, self.cooldown = threshold, cooldown
        self.failures = 0
        self.opened_at: float | None = None

    def before_call(self) -> None:
        if self.opened_at is not None and time.monotonic() - self.opened_at < self.cooldown:
            raise CircuitOpen()

    def record(self, ok: bool) -> None:
        if ok:
            self.failures, self.opened_at = 0, None
        else:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = time.monotonic()


def backoff_delay(attempt: int) -> float:
    """Delay before retry number `attempt` (1-based), with full jitter: a random value between
    zero and the exponential delay, so that many clients do not retry in lockstep."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


def call_with_retries(fn: Callable[[], T], breaker: CircuitBreaker | None = None,
                      is_retryable: Callable[[Exception], bool] = lambda e: True) -> T:
    """Call `fn` until it succeeds or MAX_ATTEMPTS is reached; re-raise the last error."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if breaker:
            breaker.before_call()
        try:
            result = fn()
        except Exception as exc:
            if breaker:
                breaker.record(False)
            if attempt == MAX_ATTEMPTS or not is_retryable(exc):
                raise
            time.sleep(backoff_delay(attempt))
        else:
            if breaker:
                breaker.record(True)
            return result
    raise AssertionError("unreachable")
