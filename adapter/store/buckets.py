"""Shopify's cost bucket as every replica's reservations left it (issue #14; adapter.shopify.pacing
says when it is used). One row per shop in an UNLOGGED table: a model, re-learned from the next
answer if lost, so its statements write no WAL and commit without a flush.

Time is the database's clock (the replicas' own clocks are not one clock). A reservation refills
the level to now, caps it at the replica's ceiling (what Shopify's latest figure and the restore
since allow), and takes the cost if the floor asked for holds; an answer gives back what was not
charged and holds the level to Shopify's figure. The row is made by the first answer.

The model must never fail a call: if Postgres does not answer within `timeout`, reserve answers
None and settle does nothing (the replica goes on with its own model). The statements share the
adapter's pool with the requests' own: `timeout` covers waiting for a connection too, and is
long enough not to fall back on a busy pool (bench.throttle at 100/s, 3 replicas, 50 requests at
once on two busy cores: 0.5 s was too short for 15 of ~1,000 reservations, each one a call sent
on a replica's own model, several of them THROTTLED)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import structlog

from adapter.domain.errors import DependencyUnavailable
from adapter.observability.metrics import SHOPIFY_SHARED_BUCKET

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SharedReservation:
    """The shared level's answer: `before` (refilled to now), `after` the cost, or None when the
    cost was not taken (it would have gone below the floor asked for), and the bucket's figures."""

    before: float
    after: float | None
    maximum: float
    restore_rate: float


_FAILURES = (DependencyUnavailable, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


def _refilled(ceiling: str) -> str:
    """The level refilled to now, capped at the caller's ceiling (NULL: none)."""
    return (f"least(b.maximum, {ceiling}::float8,"
            " b.level + greatest(0.0, extract(epoch FROM clock_timestamp() - b.as_of)::float8) * b.restore_rate)")


# What must be left after the cost: for a money call the margin ($4 of the maximum, at least $7
# points) less what the restore brings back before its deadline ($5 s); for a lookup its floor
# ($3 of the maximum), never under the margin.
def _floor(maximum: str, rate: str) -> str:
    margin = f"greatest($4::float8 * {maximum}, $7::float8)"
    return (f"CASE WHEN $3::float8 IS NULL THEN {margin} - {rate} * $5::float8"
            f" ELSE greatest($3::float8 * {maximum}, {margin}) END")


# $1 shop, $2 cost, $3-$5 and $7 the floor, $6 the ceiling. The level before (refilled to now),
# after (NULL: not taken); no row back: the shop has no row yet.
_RESERVE = f"""
WITH cur AS (
    SELECT b.shop, b.maximum, b.restore_rate, {_refilled("$6")} AS level
      FROM shared_buckets b WHERE b.shop = $1 FOR UPDATE
), taken AS (
    UPDATE shared_buckets b SET level = cur.level - $2, as_of = greatest(b.as_of, clock_timestamp())
      FROM cur
     WHERE b.shop = cur.shop AND cur.level - $2 >= {_floor("cur.maximum", "cur.restore_rate")}
    RETURNING b.level
)
SELECT cur.level AS before, (SELECT level FROM taken) AS after, cur.maximum, cur.restore_rate FROM cur
"""
# No row yet: made from the caller's own model. The replicas' first calls below the line may all
# go out before any of them is answered, so they can't wait for an answer to make it.
_SEED = """
INSERT INTO shared_buckets (shop, level, maximum, restore_rate, as_of) VALUES ($1, $2, $3, $4, clock_timestamp())
ON CONFLICT (shop) DO NOTHING
"""

# Refilled to now (no ceiling: LEAST ignores the NULL) with the refund, never above Shopify's figure.
_SETTLE = f"""
INSERT INTO shared_buckets AS b (shop, level, maximum, restore_rate, as_of)
VALUES ($1, $2, $3, $4, clock_timestamp())
ON CONFLICT (shop) DO UPDATE SET
    level = least(EXCLUDED.level, {_refilled("NULL")} + $5),
    maximum = EXCLUDED.maximum, restore_rate = EXCLUDED.restore_rate, as_of = greatest(b.as_of, EXCLUDED.as_of)
"""


async def reserve(conn, shop: str, cost: float, *, floor_share: float | None, margin_share: float,
                  margin_points: float, seconds_left: float, ceiling: float | None):
    """The level before and after the cost (after NULL: not taken); None: the shop has no row."""
    return await conn.fetchrow(_RESERVE, shop, float(cost), floor_share, float(margin_share), float(seconds_left),
                               ceiling, float(margin_points))


async def make_level(conn, shop: str, level: float, maximum: float, restore_rate: float) -> None:
    """The shop's row, unless another replica has made it first."""
    await conn.execute(_SEED, shop, float(level), float(maximum), float(restore_rate))


async def settle(conn, shop: str, *, figure: float, maximum: float, restore_rate: float, refund: float) -> None:
    await conn.execute(_SETTLE, shop, float(figure), float(maximum), float(restore_rate), float(refund))


class SharedBucket:
    """The SharedLevel of adapter.shopify.pacing on Postgres, for the shop `shop` (its host name)."""

    def __init__(self, pool, shop: str, *, timeout: float = 2.0) -> None:
        self._pool = pool
        self._shop = shop
        self._timeout = timeout

    async def reserve(self, cost: float, *, floor_share: float | None, margin_share: float, margin_points: float,
                      seconds_left: float, ceiling: float | None, seed: tuple[float, float, float] | None = None,
                      ) -> SharedReservation | None:
        terms = {"floor_share": floor_share, "margin_share": margin_share, "margin_points": margin_points,
                 "seconds_left": seconds_left, "ceiling": ceiling}
        try:
            async with asyncio.timeout(self._timeout):
                async with self._pool.acquire() as conn:
                    row = await reserve(conn, self._shop, cost, **terms)
                    if row is None and seed is not None:
                        await make_level(conn, self._shop, *seed)
                        row = await reserve(conn, self._shop, cost, **terms)
        except _FAILURES as error:
            log.warning("shared_bucket_unavailable", step="reserve", reason=type(error).__name__)
            return None
        if row is None:
            return None  # no row, and the caller has no model to make it from
        return SharedReservation(row["before"], row["after"], row["maximum"], row["restore_rate"])

    async def settle(self, *, figure: float, maximum: float, restore_rate: float, refund: float) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                async with self._pool.acquire() as conn:
                    await settle(conn, self._shop, figure=figure, maximum=maximum, restore_rate=restore_rate,
                                 refund=refund)
        except _FAILURES as error:
            SHOPIFY_SHARED_BUCKET.labels("unavailable").inc()
            log.warning("shared_bucket_unavailable", step="settle", reason=type(error).__name__)
