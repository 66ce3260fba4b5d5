"""Use-case outcomes as NewStore bodies. The only place that knows NewStore's answer shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter.domain.errors import Decline
from adapter import jsonio
from adapter.http.errors import error_body
from adapter.jsonio import RawJson
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


# Keys the answer's metadata gets from us; a caller's own values under them are not echoed.
_OUR_METADATA_KEYS = ("gift_card_last_characters", "ledger_transaction_id")


def echoed_metadata(metadata: dict[str, Any]) -> RawJson:
    """The caller's metadata as the answers will echo it, encoded now, before any ledger write.
    The card number is a bearer secret: it never goes into what is kept (the write's context in
    Postgres) or echoed."""
    kept = {k: v for k, v in metadata.items() if k != "number" and k not in _OUR_METADATA_KEYS}
    return RawJson(jsonio.dumps(kept).decode())


def payment_transaction(result: PaymentResult) -> dict[str, Any]:
    """One NewStore PSP transaction (spec §3.2)."""
    ours = {"gift_card_last_characters": result.last_characters}
    if result.ledger_transaction_id is not None:
        ours["ledger_transaction_id"] = result.ledger_transaction_id
    metadata = jsonio.extend_object(result.metadata, ours)
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
