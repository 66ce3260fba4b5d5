"""Use-case outcomes as NewStore bodies. The only place that knows NewStore's answer shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter.domain.errors import Decline
from adapter import jsonio
from adapter.http.errors import error_body
from adapter.services.payments import PaymentResult
from adapter.services.results import BalanceResult, CardNumberResult


def present(outcome: Any) -> tuple[int, bytes]:
    if isinstance(outcome, Decline):
        return outcome.status, error_body("instrument_error", outcome.message)
    if isinstance(outcome, CardNumberResult):
        body: dict[str, Any] = {"identifier": {"number": outcome.code.value}}
        if outcome.correlation_id is not None:
            body["correlation_id"] = outcome.correlation_id
        return 200, jsonio.dumps(body)
    if isinstance(outcome, BalanceResult):
        return 200, jsonio.dumps({"value": outcome.balance.json_number(), "currency": outcome.balance.currency})
    if isinstance(outcome, PaymentResult):
        return 200, jsonio.dumps([payment_transaction(outcome)])
    raise TypeError(f"no presentation for {type(outcome).__name__}")


def payment_transaction(result: PaymentResult) -> dict[str, Any]:
    """One NewStore PSP transaction (spec §3.2); the card number never goes back."""
    metadata = {k: v for k, v in result.metadata.items() if k != "number"}
    metadata["gift_card_last_characters"] = result.last_characters
    if result.ledger_transaction_id is not None:
        metadata["ledger_transaction_id"] = result.ledger_transaction_id
    return {
        "transaction_id": str(result.transaction_id),
        "instrument_id": str(result.instrument_id),
        "capture_amount": result.capture_delta,
        "refund_amount": result.refund_delta,
        "currency": result.currency,
        "reason": result.reason,
        "payment_method": "gift_card",
        "metadata": metadata,
        "processed_at": rfc3339(result.processed_at),
    }


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
