"""The feed's signed webhooks: every replica runs one worker, which claims due deliveries
(adapter.store.feed_deliveries: FOR UPDATE SKIP LOCKED, in order per card per subscriber),
POSTs each event to its subscriber, and settles the row.

- 2xx: delivered, the row is deleted.
- Anything else (a redirect is not followed: the signed body goes to the configured URL only),
  a timeout, a refused connection: failed. The row is due again after a backoff with full
  jitter, uniform in [0, min(FEED_BACKOFF_CAP_SECONDS, FEED_BACKOFF_BASE_SECONDS * 2^(n-1)))
  after the n-th failed attempt; after FEED_MAX_ATTEMPTS attempts it is dead. A dead row blocks
  its card's later events for that subscriber (they would arrive out of order otherwise) until
  `giftcard-adapter feed redeliver` puts it back or `feed skip` drops it.

At least once: a worker that dies after a send and before the row is deleted leaves it to be
sent again when its lease ends; a subscriber de-duplicates on event_id. In the normal case
nothing is sent twice: a row is claimed by one worker at a time, and a send is started only
while its lease has the whole delivery timeout (and a margin) left.

Shutdown stops the worker between sends: sends in flight finish (each within the timeout), rows
claimed and not yet sent are released at once.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import structlog

from adapter.feed import events, signature
from adapter.feed.subscribers import Subscriber
from adapter.observability import metrics
from adapter.store import feed_deliveries as queue

log = structlog.get_logger(__name__)

USER_AGENT = "giftcard-adapter-feed/1"
# A subscriber's answer is not needed: read this much of it, so the connection can be kept alive.
ANSWER_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class FeedSettings:
    max_attempts: int = 12
    backoff_base: float = 10.0
    backoff_cap: float = 3600.0
    timeout: float = 10.0              # one POST, connection included
    poll_interval: float = 1.0         # how often an idle worker looks for due rows
    concurrency: int = 8               # POSTs in flight per replica
    batch: int = 32                    # rows claimed per pass
    gauge_interval: float = 5.0        # how often the pending/dead/lag gauges are read

    @property
    def lease(self) -> float:
        """Long enough for every row of a batch to be sent, a round of sends after another."""
        return self.timeout * (math.ceil(self.batch / self.concurrency) + 1) + 5.0

    def backoff(self, attempts: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """Full jitter after the `attempts`-th failed attempt."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** min(attempts - 1, 60))
        return rng(0.0, ceiling)


class FeedDelivery:
    def __init__(self, pool, session: aiohttp.ClientSession, subscribers: tuple[Subscriber, ...],
                 settings: FeedSettings) -> None:
        self._pool = pool
        self._session = session
        self._subscribers = {s.name: s for s in subscribers}
        self._names = tuple(self._subscribers)
        self._settings = settings
        self._gauges_read_at = -math.inf
        metrics.preinitialise_feed(self._names)

    @property
    def subscribers(self) -> tuple[str, ...]:
        return self._names

    async def run_once(self, stopping: asyncio.Event | None = None) -> Counter:
        """One pass: claim a batch and send it. Counts by result (delivered, failed, dead, released)."""
        settings = self._settings
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()  # before the claim: the lease, measured here, ends no later than in Postgres
        async with self._pool.acquire() as conn:
            claimed = await queue.claim(conn, self._names, settings.batch, settings.lease)
        results: Counter = Counter()
        if claimed:
            lease_ends = claimed_at + settings.lease
            slots = asyncio.Semaphore(settings.concurrency)
            unsent: list[queue.Claimed] = []

            async def one(item: queue.Claimed) -> None:
                async with slots:
                    late = loop.time() + settings.timeout + 2.0 > lease_ends
                    if (stopping is not None and stopping.is_set()) or late:
                        unsent.append(item)
                        return
                    results[await self._deliver(item)] += 1

            await asyncio.gather(*(one(item) for item in claimed))
            if unsent:
                async with self._pool.acquire() as conn:
                    await queue.release(conn, unsent)
                results["released"] += len(unsent)
        if loop.time() - self._gauges_read_at >= settings.gauge_interval:
            await self.read_gauges()
        return results

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            claimed = 0
            try:
                claimed = sum((await self.run_once(stopping)).values())
            except Exception:
                log.warning("feed_delivery_pass_failed", exc_info=True)
            if not claimed:
                await _sleep_unless(stopping, self._settings.poll_interval * random.uniform(0.8, 1.2))

    async def read_gauges(self) -> None:
        async with self._pool.acquire() as conn:
            by_subscriber = {s.subscriber: s for s in await queue.status(conn)}
        self._gauges_read_at = asyncio.get_running_loop().time()
        for name in self._names:
            found = by_subscriber.get(name)
            metrics.FEED_PENDING.labels(name).set(found.pending if found else 0)
            metrics.FEED_DEAD.labels(name).set(found.dead if found else 0)
            metrics.FEED_EVENT_LAG.labels(name).set(found.oldest_age_seconds if found else 0)

    async def _deliver(self, item: queue.Claimed) -> str:
        subscriber = self._subscribers[item.subscriber]
        error = await self._send(subscriber, item)
        settings = self._settings
        if error is None:
            result = "delivered"
            async with self._pool.acquire() as conn:
                await queue.delivered(conn, item)
        else:
            dead = item.attempts >= settings.max_attempts
            retry_in = None if dead else settings.backoff(item.attempts)
            result = "dead" if dead else "failed"
            async with self._pool.acquire() as conn:
                if not await queue.failed(conn, item, error, retry_in):
                    result = "lost_claim"  # another worker holds the row now: its attempt counts
            (log.warning if dead else log.info)("feed_delivery_failed", subscriber=item.subscriber,
                    sequence=item.event.event_id, attempt=item.attempts, error=error, dead=dead,
                    retry_in_seconds=None if retry_in is None else round(retry_in, 3))
        if result != "lost_claim":
            metrics.FEED_DELIVERIES.labels(item.subscriber, result).inc()
        return result

    async def _send(self, subscriber: Subscriber, item: queue.Claimed) -> str | None:
        """POST the event; None when the subscriber answered 2xx, else what went wrong (never
        the URL, which may carry a token, nor anything the subscriber answered)."""
        body = events.encode(item.event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signature.HEADER: signature.header(subscriber.secret_values, int(time.time()), body),
            signature.EVENT_ID_HEADER: str(item.event.event_uuid),
        }
        timeout = self._settings.timeout
        try:
            async with asyncio.timeout(timeout):
                async with self._session.post(subscriber.url, data=body, headers=headers, allow_redirects=False,
                                              timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                    await response.content.read(ANSWER_READ_BYTES)
                    status = response.status
        except (asyncio.TimeoutError, TimeoutError):
            return "timeout"
        except (aiohttp.ClientError, OSError) as error:
            return f"network: {type(error).__name__}"
        if 200 <= status < 300:
            return None
        return f"http {status}"


def feed_settings(settings) -> FeedSettings:
    return FeedSettings(
        max_attempts=settings.feed_max_attempts,
        backoff_base=settings.feed_backoff_base_seconds,
        backoff_cap=settings.feed_backoff_cap_seconds,
        timeout=settings.feed_delivery_timeout_seconds,
        poll_interval=settings.feed_poll_interval_seconds,
        concurrency=settings.feed_concurrency,
        # What about four rounds of sends take: a claimed row waits its turn within the lease.
        batch=4 * settings.feed_concurrency,
    )


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
