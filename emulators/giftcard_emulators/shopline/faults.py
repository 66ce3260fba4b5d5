"""Fault switches: the Shopify sandbox's registry (giftcard_emulators.faults.FaultRegistry), scoped by
this emulator's route names, plus SHOPLINE's own `foreign_change`.

Route names (the `operation` of a fault and the keys of the call counters): create_gift_card,
get_gift_card, list_gift_cards, update_gift_card, disable_gift_card, list_operation_records.

Kinds from the shared registry (same spec fields: operation, count or probability+seed, stage,
status, latency_ms):
- latency: the answer comes `latency_ms` later (latencies of several faults add up);
- error_5xx: answered `status` (502 by default) with `{"errors": ...}`; stage "before" (default)
  does nothing, stage "after" applies the change first: an unknown outcome;
- internal_server_error: a 500 before anything is done;
- lose_response: the change is applied, then the connection is dropped without an answer;
- hold: the call parks (stage "before": before it executes; "after": applied, answer parked) until
  POST /_emulator/release, DELETE /_emulator/faults, or reset (which fails a call held "before"
  with a 503).
Each of these also takes `card_id`: then only calls addressing that card (by path) match; the
fault is listed with operation "<route>:<card_id>" (or "card:<card_id>" for any route).

`foreign_change` (this emulator's): {"kind": "foreign_change", "delta": "-5.00", "card_id"?,
"operation"?, "count"? (default 1), "operation_type"?}. Right after the next matching successful
call (by default a read: get_gift_card, list_gift_cards, list_operation_records) has computed its
answer, and before the answer leaves, the card's balance moves by `delta` as a web-shop checkout
(negative: OPERATE_ACTION_DEDUCT) or a refund (positive: OPERATE_ACTION_REFUND) would move it,
with an operation record. The client sees the balance from before; by the time it can send its
PUT the balance has changed. The card is `card_id` if given (the call must concern that card),
else the card the call is about (path id, or the single card of a list answer). A change that
would take the balance below zero, or touch a disabled card, is not applied and the fault stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from giftcard_emulators.faults import FaultRegistry, FaultSpecError

from giftcard_emulators.shopline import choices

OPERATIONS = ("create_gift_card", "get_gift_card", "list_gift_cards", "update_gift_card",
              "disable_gift_card", "list_operation_records")
READ_OPERATIONS = ("get_gift_card", "list_gift_cards", "list_operation_records")


def scope(operation: str, card_id: str | None) -> list[str]:
    """The names a call answers to in the shared registry: its route, and route:card, card:card."""
    names = [operation]
    if card_id is not None:
        names += [f"{operation}:{card_id}", f"card:{card_id}"]
    return names


@dataclass
class ForeignChange:
    id: str
    delta: Decimal
    operation: str | None
    card_id: str | None
    remaining: int
    operation_type: str | None
    fired: int = 0
    kind: str = "foreign_change"

    def matches(self, operation: str) -> bool:
        if self.operation is None:
            return operation in READ_OPERATIONS
        return operation == self.operation

    def target(self, touched: list[str]) -> str | None:
        if self.card_id is not None:
            return self.card_id if self.card_id in touched else None
        return touched[0] if len(touched) == 1 else None

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "operation": self.operation, "card_id": self.card_id,
                "delta": str(self.delta), "remaining": self.remaining,
                "operation_type": self.operation_type, "fired": self.fired}


def _card_id(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not text.isdigit():
        raise FaultSpecError("card_id must be a gift card id (a string of digits)")
    return text


@dataclass
class ShoplineFaults(FaultRegistry):
    foreign: list[ForeignChange] = field(default_factory=list)

    def add(self, spec: Any) -> Any:
        if not isinstance(spec, dict):
            raise FaultSpecError("body must be a JSON object")
        operation = spec.get("operation")
        if operation is not None and operation not in OPERATIONS:
            raise FaultSpecError(f"operation must be one of {', '.join(OPERATIONS)}")
        if spec.get("kind") == "foreign_change":
            return self._add_foreign(spec)
        spec = dict(spec)
        card_id = _card_id(spec.pop("card_id", None))
        if card_id is not None:
            spec["operation"] = f"{operation}:{card_id}" if operation else f"card:{card_id}"
        return super().add(spec)

    def _add_foreign(self, spec: dict[str, Any]) -> ForeignChange:
        try:
            delta = Decimal(str(spec.get("delta")))
        except InvalidOperation as exc:
            raise FaultSpecError("delta must be a decimal string such as \"-5.00\"") from exc
        if not delta.is_finite() or delta == 0:
            raise FaultSpecError("delta must be a non-zero decimal")
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FaultSpecError("count must be a positive integer")
        operation_type = spec.get("operation_type")
        if operation_type is not None and operation_type not in choices.OPERATION_TYPES:
            raise FaultSpecError(f"operation_type must be one of {', '.join(choices.OPERATION_TYPES)}")
        change = ForeignChange(f"fault-{next(self._ids)}", delta, spec.get("operation"),
                               _card_id(spec.get("card_id")), count, operation_type)
        self.foreign.append(change)
        return change

    def foreign_for(self, operation: str, touched: list[str]) -> list[tuple[ForeignChange, str]]:
        return [(change, target) for change in self.foreign if change.matches(operation)
                and (target := change.target(touched)) is not None]

    def fire_foreign(self, change: ForeignChange) -> None:
        change.fired += 1
        change.remaining -= 1
        if change.remaining <= 0:
            self.foreign.remove(change)
        self.fired[change.kind] = self.fired.get(change.kind, 0) + 1

    def clear(self) -> None:
        super().clear()
        self.foreign.clear()

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["faults"] += [change.describe() for change in self.foreign]
        return described
