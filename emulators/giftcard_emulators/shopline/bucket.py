"""SHOPLINE's REST rate limit: a leaky bucket per app per store, every request one ball.

The bucket holds `bucket_size` balls (40) and leaks `leak_rate` of them per second (4). A request
that finds no room is answered 429 and puts nothing in. Size and rate are read from the live
config, so /_emulator/config applies to the next request; the clock is injectable (a monotonic
seconds counter) so tests move time by hand instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from giftcard_emulators.shopline.config import ShoplineConfig


class RequestBucket:
    def __init__(self, config: ShoplineConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self.clock = clock
        self.level = 0.0
        self._stamp = clock()
        self.peak = 0.0  # the fullest the bucket has been since the last drain

    def _leak(self) -> None:
        now = self.clock()
        self.level = max(0.0, self.level - (now - self._stamp) * self._config.leak_rate)
        self._stamp = now

    def try_take(self) -> bool:
        self._leak()
        if self.level + 1 > self._config.bucket_size + 1e-9:
            return False
        self.level += 1
        self.peak = max(self.peak, self.level)
        return True

    def retry_after_seconds(self) -> int:
        self._leak()
        missing = self.level + 1 - self._config.bucket_size
        return max(1, math.ceil(missing / (self._config.leak_rate or 1.0)))

    def drain(self) -> None:
        self.level = 0.0
        self._stamp = self.clock()
        self.peak = 0.0

    def status(self) -> dict[str, float]:
        self._leak()
        return {"bucket_size": self._config.bucket_size, "leak_rate": self._config.leak_rate,
                "level": round(self.level, 6), "peak": round(self.peak, 6)}
