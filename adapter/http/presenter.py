"""Use-case outcomes as NewStore bodies. The only place that knows NewStore's answer shapes."""

from __future__ import annotations

from typing import Any

from adapter.domain.errors import Decline
from adapter.http import jsonio
from adapter.http.errors import error_body
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
    raise TypeError(f"no presentation for {type(outcome).__name__}")
