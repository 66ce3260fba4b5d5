"""Payment instruments and their running totals. Every change runs under a row lock (a
reservation's too, in store/reservations)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

# What a refund or revoke reserves while its credit is in flight, and the total it then becomes.
RESERVATION_COLUMNS = {"refund": ("refund_reserved", "refunded"), "revoke": ("revoke_reserved", "revoked")}

_COLUMNS = (
    "id, code_digest, shopify_card_id, last_characters, currency, account_id, authorized, captured,"
    " refunded, revoked, refund_reserved, revoke_reserved"
)


@dataclass(frozen=True, slots=True)
class Instrument:
    id: UUID
    code_digest: bytes
    shopify_card_id: str
    last_characters: str
    currency: str
    account_id: str | None
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    revoked: Decimal
    refund_reserved: Decimal
    revoke_reserved: Decimal

    @property
    def capturable(self) -> Decimal:
        """Authorized and neither captured, revoked nor reserved for a revoke."""
        return self.authorized - self.captured - self.revoked - self.revoke_reserved

    @property
    def refundable(self) -> Decimal:
        return self.captured - self.refunded - self.refund_reserved


def _instrument(row) -> Instrument | None:
    return Instrument(**dict(row)) if row else None


async def lock(conn, instrument_id: UUID) -> Instrument | None:
    """Read and lock for the rest of the transaction: concurrent operations on one instrument
    queue here, so each sees the totals the previous one left."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM instruments WHERE id = $1 FOR UPDATE", instrument_id)
    return _instrument(row)


async def get(conn, instrument_id: UUID) -> Instrument | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM instruments WHERE id = $1", instrument_id)
    return _instrument(row)


async def add_capture(conn, instrument_id: UUID, amount: Decimal) -> None:
    await conn.execute(
        "UPDATE instruments SET captured = captured + $2, updated_at = now() WHERE id = $1", instrument_id, amount
    )


async def release_reservation(conn, instrument_id: UUID, operation: str, amount: Decimal) -> None:
    """Give a reservation back: its credit was declined or never sent. (One that landed becomes
    the total in the statement that stores the answer: completion.SettleReservation.)"""
    reserved = RESERVATION_COLUMNS[operation][0]
    await conn.execute(
        f"UPDATE instruments SET {reserved} = {reserved} - $2, updated_at = now() WHERE id = $1",
        instrument_id, amount,
    )
