"""The feed's answer models (the pull API's page, each event as the webhooks send it), for
/openapi.json only: adapter.feed.events writes them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from adapter.http.schemas import _Model
from adapter.http.feed_handlers import MAX_LIMIT
from adapter.store.feed import CAUSES, KINDS

_NUMBER = {"type": "number", "description": "Major units, an exact decimal JSON number (parse it as a decimal)"}
Amount = Annotated[Decimal | None, WithJsonSchema({"anyOf": [_NUMBER, {"type": "null"}]})]


class FeedCard(_Model):
    ledger_id: str = Field(description="The ledger's own id of the card (never its code)")
    last_characters: str | None = Field(description="The code's last characters (four, as the ledger shows them)")


class FeedEvent(_Model):
    """One change of a card's balance or state; the webhook's body is one of these."""

    event_id: Annotated[str, WithJsonSchema({"type": "string", "format": "uuid",
                                             "description": "The same in every delivery: de-duplicate on it"})]
    sequence: Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1,
                                             "description": "Commit order; its decimal string is a cursor"})]
    card: FeedCard
    kind: Literal[KINDS]  # type: ignore[valid-type]
    cause: Literal[CAUSES]  # type: ignore[valid-type]
    amount: Amount
    balance_after: Amount
    currency: Annotated[str | None, WithJsonSchema({"anyOf": [{"type": "string", "pattern": "^[A-Z]{3}$"},
                                                              {"type": "null"}]})]
    occurred_at: Annotated[str, WithJsonSchema({
        "type": "string", "format": "date-time",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
        "description": "When the ledger says it happened: RFC 3339, UTC, microseconds"})]
    operation: str | None = Field(description="The NewStore operation it came from, if ours")
    order: str | None = Field(description="The order it came from, if the ledger says")


class EventsPage(_Model):
    events: Annotated[list[FeedEvent], Field(max_length=MAX_LIMIT)]
    next_cursor: Annotated[str, WithJsonSchema({
        "type": "string", "pattern": "^[0-9]+$",
        "description": "The last event's sequence, or the cursor given when the page is empty: the next after="})]
