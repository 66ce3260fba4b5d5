"""The ledger mirror (issue #12): every entry seen on a known card, and how far each card has been
read. Rows are only ever added: a re-read of a card inserts what it has not seen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class SyncState:
    last_entry_id: str | None
    enabled: bool | None


@dataclass(frozen=True, slots=True)
class MirrorRow:
    entry_id: str
    amount: Decimal
    currency: str
    balance_after: Decimal | None
    occurred_at: datetime
    origin: str                 # ours | foreign
    cause: str
    write_id: str | None = None
    operation: str | None = None
    detail: str | None = None
    order_ref: str | None = None  # for its feed event only: the mirror keeps what the ledger did


@dataclass(frozen=True, slots=True)
class OurWrite:
    write_id: str
    operation: str
    amount: Decimal | None
    ledger_transaction_id: str | None


async def sync_state(conn, card_id: str) -> SyncState:
    row = await conn.fetchrow("SELECT last_entry_id, enabled FROM card_sync WHERE ledger_card_id = $1", card_id)
    return SyncState(row["last_entry_id"], row["enabled"]) if row else SyncState(None, None)


async def our_writes(conn, card_id: str, *, write_ids: list[str], transaction_ids: list[str]) -> list[OurWrite]:
    """Our applied writes on this card that a re-read of these entries can meet: those the
    entries' markers name (`write_ids`), those that made one of the entries
    (`transaction_ids`), and the card's creation (a ledger that makes no entry for it) and
    deactivation (the cause of a disabled card's event). Never the card's whole
    history: a card with thousands of payments made every re-read read (and decode) them all."""
    rows = await conn.fetch(
        """SELECT write_id, operation, amount, ledger_transaction_id FROM ledger_writes
            WHERE shopify_card_id = $1 AND state = 'applied'
              AND (write_id = ANY($2::text[]) OR ledger_transaction_id = ANY($3::text[])
                   OR operation IN ('issue', 'activate', 'deactivate'))""",
        card_id, write_ids, transaction_ids)
    return [OurWrite(**dict(row)) for row in rows]


async def repair_entries(conn, card_id: str, entry_ids: list[str]) -> dict[str, str]:
    """Entry id -> write id of the correcting PUTs made on this card, among these entries."""
    rows = await conn.fetch(
        "SELECT entry_id, write_id FROM balance_repairs WHERE ledger_card_id = $1 AND entry_id = ANY($2::text[])",
        card_id, entry_ids)
    return {row["entry_id"]: row["write_id"] for row in rows}


async def mirrored_writes(conn, card_id: str, write_ids: list[str]) -> set[str]:
    """Which of these writes of ours already have their mirror row on this card."""
    rows = await conn.fetch(
        "SELECT write_id FROM ledger_entries WHERE ledger_card_id = $1 AND write_id = ANY($2::text[])",
        card_id, write_ids)
    return {row["write_id"] for row in rows}


async def insert_new(conn, card_id: str, rows: list[MirrorRow]) -> set[str]:
    """Insert the rows not mirrored yet; answers the entry ids this call inserted (a concurrent
    re-read of the same card inserts the others, and makes their events)."""
    if not rows:
        return set()
    inserted = await conn.fetch(
        """INSERT INTO ledger_entries (ledger_card_id, entry_id, amount, currency, balance_after, occurred_at, origin,
                                       cause, write_id, operation, detail)
           SELECT $1, * FROM unnest($2::text[], $3::numeric[], $4::text[], $5::numeric[], $6::timestamptz[],
                                    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
           ON CONFLICT DO NOTHING RETURNING entry_id""",
        card_id, [r.entry_id for r in rows], [r.amount for r in rows], [r.currency for r in rows],
        [r.balance_after for r in rows], [r.occurred_at for r in rows], [r.origin for r in rows],
        [r.cause for r in rows], [r.write_id for r in rows], [r.operation for r in rows], [r.detail for r in rows],
    )
    return {row["entry_id"] for row in inserted}


async def record_position(conn, card_id: str, last_entry_id: str | None, balance: Decimal, currency: str,
                          enabled: bool, last_characters: str, *, due_at: datetime | None = None) -> None:
    """Where the mirror is: its last entry and the balance after it. `due_at`: entries are held
    back until then, and the poller takes the card first once it is past (store/poller.cards_due)."""
    await conn.execute(
        """INSERT INTO card_sync (ledger_card_id, last_entry_id, balance, currency, enabled, last_characters,
                                  changed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (ledger_card_id) DO UPDATE
              SET last_entry_id = coalesce(EXCLUDED.last_entry_id, card_sync.last_entry_id),
                  balance = EXCLUDED.balance, currency = EXCLUDED.currency, enabled = EXCLUDED.enabled,
                  last_characters = EXCLUDED.last_characters, synced_at = now(),
                  changed_at = coalesce(EXCLUDED.changed_at, card_sync.changed_at)""",
        card_id, last_entry_id, balance, currency, enabled, last_characters, due_at,
    )
