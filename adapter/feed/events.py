"""The feed event's one JSON shape: the webhook body, and each item of the pull API's page.

    {"event_id": "7b0e...-uuid", "sequence": 42,
     "card": {"ledger_id": "gid://shopify/GiftCard/1", "last_characters": "q34n"},
     "kind": "debited", "cause": "online_checkout",
     "amount": 12.5, "balance_after": 37.5, "currency": "USD",
     "occurred_at": "2026-11-30T12:00:00.000000Z", "operation": null, "order": "#1001"}

- event_id: the event's UUID, the same in every delivery and in the pull API: de-duplicate on it
  (delivery is at least once). Also sent as X-Giftcard-Event-Id.
- sequence: the event's position in the feed, an integer, increasing in commit order. Its
  decimal string is the pull API's cursor (after=<sequence> resumes after this event).
- amount, balance_after: exact decimal JSON numbers in major units, as in every answer this
  service gives NewStore (12.5 means 12.50; never an exponent, never rounded through a float):
  parse them as decimals (Python: json.loads(body, parse_float=decimal.Decimal)). The amount is
  the size of the change, never negative: kind says which way (debited, credited); null where
  the kind has none (a deactivation), as is balance_after when the ledger did not say.
- occurred_at: when the ledger says it happened, RFC 3339 in UTC with microseconds and "Z".
- operation: the NewStore operation it came from (ours), or null; order: the order it came from
  when the ledger says, or null.

An event never holds a card code: the ledger's card id and the last characters only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter import jsonio
from adapter.store.feed import Event


def occurred(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def document(event: Event) -> dict[str, Any]:
    return {
        "event_id": str(event.event_uuid),
        "sequence": event.event_id,
        "card": {"ledger_id": event.ledger_card_id, "last_characters": event.last_characters},
        "kind": event.kind,
        "cause": event.cause,
        "amount": event.amount,
        "balance_after": event.balance_after,
        "currency": event.currency,
        "occurred_at": occurred(event.occurred_at),
        "operation": event.operation,
        "order": event.order_ref,
    }


def encode(event: Event) -> bytes:
    """The exact bytes sent (and signed): compact JSON, Decimals as exact numbers."""
    return jsonio.dumps(document(event))
