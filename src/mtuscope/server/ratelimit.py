"""Requests per minute per token: a token bucket each, in this process.

Layer: server/. Reads the monotonic clock. Several server processes each keep
their own buckets; the limit is a guard against a runaway client, not billing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import HTTPException

MAX_KEYS = 100_000
"""Buckets kept at most; the oldest are forgotten beyond (they refill anyway)."""


class RateLimit:
    """`per_minute` requests per key, with bursts up to the same number."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def charge(self, key: str) -> None:
        """Take one request from `key`'s bucket.

        Raises:
            HTTPException: 429 when it is empty, with Retry-After.
        """
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1.0:
                wait = (1.0 - tokens) / self.rate
                self._buckets[key] = (tokens, now)
                raise HTTPException(
                    429,
                    f"rate limit: {int(self.burst)} requests per minute; retry in {wait:.1f} s",
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
            if len(self._buckets) >= MAX_KEYS and key not in self._buckets:
                self._buckets.pop(next(iter(self._buckets)))
            self._buckets[key] = (tokens - 1.0, now)
