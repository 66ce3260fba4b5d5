"""The poller's lease and position (issue #12): one replica polls a ledger at a time, and the
cards due for a re-read come oldest-synced first, so every known card gets its turn."""

from __future__ import annotations

from adapter.ports import ChangedCard


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
    """Known cards (our code registry, and the cards known by ledger id only: ledger_cards, met
    through a webhook or the change list), the never-synced first, then those the ledger listed
    as changed since their last sync (or whose held-back change is due now), then the longest
    unsynced."""
    rows = await conn.fetch(
        """SELECT c.shopify_id FROM (SELECT shopify_id FROM cards UNION SELECT ledger_card_id FROM ledger_cards) c
             LEFT JOIN card_sync s ON s.ledger_card_id = c.shopify_id
            ORDER BY s.synced_at IS NOT NULL,
                     (s.changed_at >= date_trunc('second', s.synced_at) AND s.changed_at <= now()) IS NOT TRUE,
                     s.synced_at, c.shopify_id
            LIMIT $1""",
        limit,
    )
    return [row["shopify_id"] for row in rows]


async def watermark(conn, ledger: str) -> str | None:
    return await conn.fetchval("SELECT watermark FROM poller_state WHERE ledger = $1", ledger)


async def record_changes(conn, ledger: str, cards: list[ChangedCard], watermark: str | None) -> None:
    """What the change list found, in one statement with the watermark that covers it: cards we
    did not know are registered by ledger id; a known one whose update the ledger dates after
    our last sync of it is due before the rest of the round (a card listed again only because
    of the walk's margin is not)."""
    await conn.execute(
        """WITH listed AS (SELECT * FROM unnest($2::text[], $3::text[], $5::timestamptz[])
                             AS l(card_id, last_characters, updated_at)),
                registered AS (
                    INSERT INTO ledger_cards (ledger_card_id, last_characters, met_through)
                    SELECT card_id, last_characters, 'poll:' || $1 FROM listed
                     WHERE NOT EXISTS (SELECT 1 FROM cards WHERE shopify_id = listed.card_id)
                    ON CONFLICT (ledger_card_id) DO NOTHING),
                due AS (
                    UPDATE card_sync s SET changed_at = coalesce(l.updated_at, now()) FROM listed l
                     WHERE s.ledger_card_id = l.card_id
                       -- ledgers date updates to the second: one in the second of our sync may be after it
                       AND (l.updated_at IS NULL OR l.updated_at >= date_trunc('second', s.synced_at)))
           UPDATE poller_state SET watermark = $4, updated_at = now() WHERE ledger = $1""",
        ledger, [card.card_id for card in cards], [card.last_characters for card in cards], watermark,
        [card.updated_at for card in cards])
