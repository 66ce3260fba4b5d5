"""Audit rows: one per movement the ledger confirmed, written with the operation's record."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

# The audit row's columns, in the order every statement that writes one gives its values.
INSERT = ("INSERT INTO audit_log (operation, write_id, instrument_id, shopify_card_id, last_characters, amount,"
          " currency, ledger_transaction_id, idempotency_key_id)")


async def record(
    conn, *, operation: str, write_id: str | None, shopify_card_id: str | None, last_characters: str | None,
    amount: Decimal | None, currency: str | None, ledger_transaction_id: str | None = None,
    instrument_id: UUID | None = None, idempotency_key_id: int | None = None,
) -> None:
    await conn.execute(
        f"{INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        operation, write_id, instrument_id, shopify_card_id, last_characters, amount, currency,
        ledger_transaction_id, idempotency_key_id,
    )
