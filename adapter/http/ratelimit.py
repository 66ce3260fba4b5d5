"""A token bucket per API key: one key flooding us is answered 429 before any work is done.

Buckets are keyed by the position of the matched key in NEWSTORE_API_KEYS (None when no keys are
configured, embedded mode: one bucket), so there are never more of them than configured keys.
"""

from __future__ import annotations

import time
from typing import Callable


class RateLimiter:
    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[int | None, tuple[float, float]] = {}  # key -> (tokens, when)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, key: int | None) -> float:
        """Spend one token: 0.0 when there was one, else the seconds until there is."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.per_second
