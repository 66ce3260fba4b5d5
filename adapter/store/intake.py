"""The intake's tables (issue #12): webhook receipts (a resend changes nothing), the durable queue
of what the webhooks asked to re-read, and the cards known by ledger id only.

No row holds a card code in plaintext: a full code waiting to be looked up is kept as the code
registry keeps one (digest and ciphertext), and only until it has been looked up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Want:
    """One thing a webhook asks to re-read (a queue row to be)."""

    kind: str                          # card | order | code | last_characters
    ledger_card_id: str | None = None
    order_id: str | None = None
    expected_cards: int | None = None
    code_digest: bytes | None = None
    code_key_id: bytes | None = None
    code_encrypted: bytes | None = None
    last_characters: str | None = None
    cause: str | None = None
    order_ref: str | None = None
    register: bool = False


@dataclass(frozen=True, slots=True)
class Item(Want):
    item_id: int = 0
    source: str = ""
    event_id: str = ""
    attempts: int = 0


_WANT_COLUMNS = ("kind", "ledger_card_id", "order_id", "expected_cards", "code_digest", "code_key_id",
                 "code_encrypted", "last_characters", "cause", "order_ref", "register")
_ITEM_COLUMNS = ", ".join(("item_id", "source", "event_id", "attempts", *_WANT_COLUMNS))


async def record_receipt(conn, source: str, event_id: str, topic: str | None) -> bool:
    """True for an event not received before (its receipt is now written), False for a resend."""
    return bool(await conn.fetchval(
        """INSERT INTO webhook_receipts (source, event_id, topic) VALUES ($1, $2, $3)
           ON CONFLICT (source, event_id) DO NOTHING RETURNING true""", source, event_id, topic))


async def enqueue(conn, source: str, event_id: str, wants: list[Want]) -> list[int]:
    if not wants:
        return []
    rows = await conn.fetch(
        f"""INSERT INTO intake_queue (source, event_id, {", ".join(_WANT_COLUMNS)})
            SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::int[], $7::bytea[], $8::bytea[],
                                         $9::bytea[], $10::text[], $11::text[], $12::text[], $13::bool[])
            RETURNING item_id""",
        source, event_id, *([getattr(w, column) for w in wants] for column in _WANT_COLUMNS),
    )
    return [row["item_id"] for row in rows]


async def lease(conn, seconds: float, limit: int, item_ids: list[int] | None = None) -> list[Item]:
    """Take up to `limit` due items (those of `item_ids` only, if given) for `seconds`: no other
    replica takes them meanwhile, and a worker that dies lets them go when the lease runs out."""
    # Two statements, not one with "$3 IS NULL OR item_id = ANY($3)": Postgres' generic plan for
    # that reads the whole primary key (tests/integration/test_query_plans.py).
    these = "AND item_id = ANY($3::bigint[])" if item_ids is not None else ""
    rows = await conn.fetch(
        f"""UPDATE intake_queue SET leased_until = now() + make_interval(secs => $1), attempts = attempts + 1
             WHERE item_id IN (SELECT item_id FROM intake_queue
                                WHERE next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())
                                  {these}
                                ORDER BY item_id LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING {_ITEM_COLUMNS}""",
        seconds, limit, *([item_ids] if item_ids is not None else []),
    )
    return sorted((Item(**dict(row)) for row in rows), key=lambda item: item.item_id)


async def done(conn, item_id: int) -> None:
    await conn.execute("DELETE FROM intake_queue WHERE item_id = $1", item_id)


async def later(conn, item_id: int, seconds: float, error: str) -> None:
    await conn.execute(
        """UPDATE intake_queue SET leased_until = NULL, next_attempt_at = now() + make_interval(secs => $2),
                                   last_error = $3
            WHERE item_id = $1""", item_id, seconds, error[:500])


async def pending(conn) -> int:
    return await conn.fetchval("SELECT count(*) FROM intake_queue")


async def register(conn, card_id: str, last_characters: str, met_through: str) -> None:
    await conn.execute(
        """INSERT INTO ledger_cards (ledger_card_id, last_characters, met_through) VALUES ($1, $2, $3)
           ON CONFLICT (ledger_card_id) DO NOTHING""", card_id, last_characters, met_through)


async def known_ending(conn, last_characters: str) -> list[str]:
    """Every card we know (the code registry, cards known by id, cards mirrored) whose last
    characters are these."""
    rows = await conn.fetch(
        """SELECT shopify_id AS id FROM cards WHERE last_characters = $1
           UNION SELECT ledger_card_id FROM ledger_cards WHERE last_characters = $1
           UNION SELECT ledger_card_id FROM card_sync WHERE last_characters = $1
           ORDER BY id""", last_characters)
    return [row["id"] for row in rows]


async def write_in_flight(conn, card_id: str) -> bool:
    """Whether a write of ours to the card may have reached the ledger without its entry being
    known ours yet: sent and unanswered or unsettled, answered but not verified, or a correcting
    PUT under way. A re-read now would take its entry for a foreign change."""
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM ledger_writes WHERE shopify_card_id = $1
                             AND (state IN ('pending', 'unknown') OR verify_state IN ('pending', 'repairing')))
               OR EXISTS (SELECT 1 FROM balance_repairs WHERE ledger_card_id = $1 AND state = 'sending')""",
        card_id))


async def forget_receipts(conn, older_than_seconds: float, limit: int = 1000) -> int:
    """Receipts older than every vendor's retry window: their events cannot come again."""
    return int((await conn.execute(
        """DELETE FROM webhook_receipts WHERE ctid IN (
               SELECT ctid FROM webhook_receipts WHERE received_at < now() - make_interval(secs => $1) LIMIT $2)""",
        older_than_seconds, limit)).split()[-1])
