"""Shopify's cost-based leaky bucket (spec §9), read from the live config so /sandbox/config
changes apply to the next request."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from giftcard_emulators.shopify.config import SandboxConfig


class LeakyBucket:
    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._available = float(config.bucket_size)
        self._stamp = clock()
        # The lowest level taking points has left the bucket at, since the last refill or reset:
        # what a benchmark reports as how close the shop came to running dry.
        self.minimum = self._available

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(
            float(self._config.bucket_size),
            self._available + (now - self._stamp) * self._config.restore_rate,
        )
        self._stamp = now

    def refill_completely(self) -> None:
        self._available = float(self._config.bucket_size)
        self._stamp = self._clock()
        self.minimum = self._available

    def reset_minimum(self) -> None:
        self._refill()
        self.minimum = self._available

    def try_take(self, points: int) -> bool:
        self._refill()
        if points > self._available:
            return False
        self._available -= points
        self.minimum = min(self.minimum, self._available)
        return True

    def refund(self, points: int) -> None:
        self._available = min(float(self._config.bucket_size), self._available + points)

    def retry_after_seconds(self, points: int) -> int:
        self._refill()
        missing = max(0.0, points - self._available)
        rate = self._config.restore_rate or 1.0
        return max(1, math.ceil(missing / rate))

    def status(self) -> dict[str, float | int]:
        self._refill()
        return {
            "maximumAvailable": float(self._config.bucket_size),
            "currentlyAvailable": int(self._available),
            "restoreRate": float(self._config.restore_rate),
        }
