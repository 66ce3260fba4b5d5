"""The gift_card tender: authorize (debit at once), capture (bookkeeping), refund and revoke
(credit the same card back), with per-instrument totals that no duplicate or race can break.

Refund and revoke reserve their amount under the instrument's row lock, in the same transaction
that records the ledger-write intent; the reservation becomes a total, or is given back, in the
transaction that stores the final answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog

from adapter.domain.cardcode import CardCode
from adapter.domain.errors import Decline, NotFound
from adapter.domain.money import Money
from adapter.idempotency.coordinator import Claim, IntentPlanner, StoredResponse
from adapter.ports import LedgerTransaction
from adapter.services import cards
from adapter.services.context import Services
from adapter.services.finishing import earlier_write, finish_declined
from adapter.services.money_writes import credit_once, debit_once
from adapter.store import audit, instruments, writes
from adapter.store.completion import Movement, OpenInstrument, SettleReservation
from adapter.store.instruments import Instrument
from adapter.store.writes import Intent, RegisteredCardIntent

log = structlog.get_logger(__name__)

UNKNOWN_INSTRUMENT = "unknown instrument"


@dataclass(frozen=True)
class PaymentResult:
    """One NewStore transaction: the deltas, and what the ledger confirmed."""

    reason: str                      # authorization | capture | refund | revoke
    instrument_id: UUID
    capture_delta: Decimal
    refund_delta: Decimal
    currency: str
    last_characters: str
    metadata: dict[str, Any]
    processed_at: datetime
    ledger_transaction_id: str | None = None
    transaction_id: UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class PaymentCommand:
    amount: Money
    metadata: dict[str, Any]
    account_id: str | None = None


# ---- authorize -------------------------------------------------------------------------------

async def authorize(services: Services, claim: Claim, code: CardCode, command: PaymentCommand,
                    deadline: float) -> StoredResponse:
    write = await earlier_write(services, claim)
    try:
        if write is None:
            write = await cards.record_card_intent(
                services, code, deadline, record_id=claim.record_id, registry_checked=claim.registry_checked,
                intent_for=lambda card_id: _authorize_intent(services, code, command, card_id))
        transaction = await debit_once(services, write, deadline)
    except Decline as decline:
        return await finish_declined(services, claim, decline, write.write_id if write else None)
    async with services.pool.acquire() as conn:
        return await complete_authorize(conn, claim, write, transaction)


def planned_authorize_intent(
    services: Services, code: CardCode, command: PaymentCommand
) -> Intent | RegisteredCardIntent | None:
    """The debit's intent, to record with the claim (see cards.planned_for_card)."""
    return cards.planned_for_card(services, code, lambda card_id: _authorize_intent(services, code, command, card_id))


def _authorize_intent(services: Services, code: CardCode, command: PaymentCommand, card_id: str | None) -> Intent:
    return Intent(
        "authorize", code_digest=services.vault.digest(code), shopify_card_id=card_id, amount=command.amount.amount,
        currency=command.amount.currency, instrument_id=uuid.uuid4(),
        context={"metadata": command.metadata, "account_id": command.account_id, "last4": code.last4},
    )


async def complete_authorize(conn, claim: Claim, write: writes.LedgerWrite, transaction: LedgerTransaction) -> StoredResponse:
    """The debit landed: open the instrument and store the answer (also used by the settler)."""
    context = write.context
    opened = OpenInstrument(write.instrument_id, write.code_digest, write.shopify_card_id, context["last4"],
                            write.currency, context.get("account_id"), authorized=write.amount)
    result = PaymentResult("authorization", write.instrument_id, write.amount, Decimal(0), write.currency,
                           context["last4"], context.get("metadata") or {}, transaction.processed_at, transaction.id)
    return await _applied(conn, claim, write, result, transaction, opened)


# ---- capture -----------------------------------------------------------------------------------

async def capture(services: Services, claim: Claim, instrument_id: UUID | None, command: PaymentCommand) -> StoredResponse:
    async with services.pool.acquire() as conn, conn.transaction():
        try:
            instrument = await _locked(conn, instrument_id, command.amount)
            if command.amount.amount > instrument.capturable:
                raise Decline(f"capture exceeds what is left to capture ({_left(instrument.capturable, instrument)} available)")
        except Decline as decline:
            return await claim.finish(conn, decline)
        await instruments.add_capture(conn, instrument.id, command.amount.amount)
        result = PaymentResult("capture", instrument.id, -command.amount.amount, command.amount.amount,
                               instrument.currency, instrument.last_characters, command.metadata, datetime.now(UTC))
        await audit.record(conn, operation="capture", write_id=None, shopify_card_id=instrument.shopify_card_id,
                           last_characters=instrument.last_characters, amount=command.amount.amount,
                           currency=instrument.currency, instrument_id=instrument.id, idempotency_key_id=claim.record_id)
        return await claim.finish(conn, result)


# ---- refund and revoke -------------------------------------------------------------------------

async def refund(services: Services, claim: Claim, instrument_id: UUID | None, command: PaymentCommand,
                 deadline: float) -> StoredResponse:
    return await _credit_back(services, claim, "refund", instrument_id, command, deadline)


async def revoke(services: Services, claim: Claim, instrument_id: UUID | None, command: PaymentCommand,
                 deadline: float) -> StoredResponse:
    return await _credit_back(services, claim, "revoke", instrument_id, command, deadline)


async def _credit_back(services: Services, claim: Claim, operation: str, instrument_id: UUID | None,
                       command: PaymentCommand, deadline: float) -> StoredResponse:
    write = await earlier_write(services, claim)
    if write is None:
        try:
            write = await _reserve(services, claim, operation, instrument_id, command)
        except Decline as decline:
            return await finish_declined(services, claim, decline)
    try:
        transaction = await credit_once(services, write, deadline)
    except Decline as decline:
        async with services.pool.acquire() as conn, conn.transaction():
            await instruments.settle_reservation(conn, write.instrument_id, operation, write.amount, applied=False)
            return await claim.finish(conn, decline)
    async with services.pool.acquire() as conn:
        return await complete_credit_back(conn, claim, write, transaction)


async def complete_credit_back(conn, claim: Claim, write: writes.LedgerWrite,
                               transaction: LedgerTransaction) -> StoredResponse:
    """The credit landed: the reservation becomes the total, and the answer is stored."""
    last4 = write.context.get("last4")
    if last4 is None:  # recorded before intents carried it
        last4 = (await instruments.get(conn, write.instrument_id)).last_characters
    capture_delta, refund_delta = (
        (-write.amount, Decimal(0)) if write.operation == "revoke" else (Decimal(0), -write.amount)
    )
    result = PaymentResult(write.operation, write.instrument_id, capture_delta, refund_delta, write.currency,
                           last4, write.context.get("metadata") or {}, transaction.processed_at, transaction.id)
    settled = SettleReservation(write.instrument_id, write.operation, write.amount)
    return await _applied(conn, claim, write, result, transaction, settled)


def planned_credit_back(operation: str, instrument_id: UUID | None, command: PaymentCommand) -> IntentPlanner:
    """A refund or revoke checks its cap and reserves its amount inside the claim's transaction;
    a Decline there (unknown instrument, over the cap) is stored with the claim."""
    return lambda conn, record_id: _reserve_in(conn, record_id, operation, instrument_id, command)


async def _reserve(services: Services, claim: Claim, operation: str, instrument_id: UUID | None,
                   command: PaymentCommand) -> writes.LedgerWrite:
    """Check the cap and reserve the amount, with the write intent, in one transaction."""
    async with services.pool.acquire() as conn, conn.transaction():
        return await _reserve_in(conn, claim.record_id, operation, instrument_id, command)


async def _reserve_in(conn, record_id: int, operation: str, instrument_id: UUID | None,
                      command: PaymentCommand) -> writes.LedgerWrite:
    """In the caller's transaction: lock the instrument, check the cap, reserve, record the intent."""
    instrument = await _locked(conn, instrument_id, command.amount)
    if operation == "refund":
        amount = command.amount.amount
        if amount > instrument.refundable:
            raise Decline(f"refund exceeds what is left to refund ({_left(instrument.refundable, instrument)} available)")
    else:
        # Revoke releases the smaller of the asked amount and what is still capturable.
        amount = min(command.amount.amount, instrument.capturable)
        if amount <= 0:
            raise Decline(f"nothing left to revoke ({_left(Decimal(0), instrument)} available)")
    await instruments.reserve(conn, instrument.id, operation, amount)
    return await writes.record_intent(conn, record_id, Intent(
        operation, code_digest=instrument.code_digest, shopify_card_id=instrument.shopify_card_id, amount=amount,
        currency=instrument.currency, instrument_id=instrument.id,
        context={"metadata": command.metadata, "last4": instrument.last_characters},
    ), sending=True)


# ---- shared ------------------------------------------------------------------------------------

async def _locked(conn, instrument_id: UUID | None, amount: Money) -> Instrument:
    instrument = await instruments.lock(conn, instrument_id) if instrument_id is not None else None
    if instrument is None:
        raise NotFound(UNKNOWN_INSTRUMENT)
    if amount.currency != instrument.currency:
        raise Decline("currency does not match the instrument's currency")
    return instrument


def _left(amount: Decimal, instrument: Instrument) -> str:
    return str(Money.from_ledger(str(amount), instrument.currency))


async def _applied(conn, claim: Claim, write: writes.LedgerWrite, result: PaymentResult,
                   transaction: LedgerTransaction, rows: OpenInstrument | SettleReservation) -> StoredResponse:
    """Mark the write applied, audit the movement, write the instrument's rows and store the
    answer: one statement."""
    movement = Movement(write.operation, write.write_id, write.shopify_card_id, result.last_characters,
                        abs(transaction.amount.amount), result.currency, transaction.id, transaction.processed_at,
                        result.instrument_id)
    return await claim.finish_applied(conn, result, movement, rows)
