"""The poller's lease and position (issue #12): one replica polls a ledger at a time, and the
cards due for a re-read come oldest-synced first, so every known card gets its turn."""

from __future__ import annotations


async def take_lease(conn, ledger: str, holder: str, seconds: float) -> bool:
    """Take (or keep) the lease; False while another replica holds one that has not run out."""
    return await conn.fetchval(
        """INSERT INTO poller_state (ledger, holder, lease_until) VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (ledger) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until,
                                              updated_at = now()
            WHERE poller_state.holder = EXCLUDED.holder OR poller_state.lease_until IS NULL
               OR poller_state.lease_until < now()
           RETURNING true""",
        ledger, holder, seconds,
    ) or False


async def release_lease(conn, ledger: str, holder: str) -> None:
    await conn.execute("UPDATE poller_state SET lease_until = NULL WHERE ledger = $1 AND holder = $2", ledger, holder)


async def cards_due(conn, limit: int) -> list[str]:
    """Known cards (our code registry, and the cards known by ledger id only, met through a
    webhook: ledger_cards), the never-synced first, then the longest unsynced."""
    rows = await conn.fetch(
        """SELECT c.shopify_id FROM (SELECT shopify_id FROM cards UNION SELECT ledger_card_id FROM ledger_cards) c
             LEFT JOIN card_sync s ON s.ledger_card_id = c.shopify_id
            ORDER BY s.synced_at NULLS FIRST, c.shopify_id LIMIT $1""",
        limit,
    )
    return [row["shopify_id"] for row in rows]


async def record_pass(conn, ledger: str, watermark: str) -> None:
    await conn.execute("UPDATE poller_state SET watermark = $2, updated_at = now() WHERE ledger = $1",
                       ledger, watermark)
