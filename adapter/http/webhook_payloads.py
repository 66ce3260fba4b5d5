"""What the ledgers' webhook bodies say about gift cards, read into an intake Signal. Pure: no I/O.

Read only once the signature is verified, and only for hints: which cards (or orders) to re-read
and what the change was (the feed's cause, the order it came from). Nothing here is trusted as a
balance. Unreadable parts are skipped rather than refused: a webhook the vendor signed is
answered 200 for what we could read, so it is not resent for ever.

Shopify (REST-shaped payloads, spec.md §12):
- orders/paid, orders/cancelled: the order; `line_items[].gift_card` sold cards (re-read through
  the order), and gift-card payments under `transactions` or `refunds[].transactions`, where a
  payload carries them;
- order_transactions/create: one transaction; a successful `gateway: "gift_card"` one names its
  card in `receipt.gift_card_id` [unverified, spec §12];
- refunds/create: its `transactions` (money given back to gift cards) and refunded gift-card
  line items.
SHOPLINE (app_memberSystem_giftCard/challenged, ledgers.md §1): `gift_card_code` (full or
masked), amounts in minor units, `scene_type`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from adapter.services.intake import PresentedCode, Signal

SHOPIFY_CARD = "gid://shopify/GiftCard/"
SHOPIFY_ORDER = "gid://shopify/Order/"
# The feed's cause for the gift-card movements each topic announces.
SHOPIFY_CAUSES = {"orders/paid": "online_checkout", "orders/cancelled": "order_refund",
                  "refunds/create": "order_refund"}
_PAYMENT_KINDS = {"sale": "online_checkout", "capture": "online_checkout", "authorization": "online_checkout",
                  "refund": "order_refund", "void": "order_refund"}
SHOPLINE_CAUSES = {"PURCHASE_PAYMENT": "online_checkout", "RETURN_INCREASE": "order_refund"}
_MAX_ITEMS = 250  # line items or transactions read from one body


def _numeric(value: Any, prefix: str) -> str | None:
    """A REST id (a number, a digit string) or a GID of this kind, as its digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str):
        text = value.removeprefix(prefix)
        return text if text.isdigit() and len(text) <= 30 else None
    return None


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value[:_MAX_ITEMS] if isinstance(item, dict)] if isinstance(value, list) else []


def _gift_card_of(transaction: dict[str, Any]) -> str | None:
    if transaction.get("gateway") != "gift_card" or transaction.get("status", "success") != "success":
        return None
    receipt = transaction.get("receipt")
    number = _numeric(receipt.get("gift_card_id"), SHOPIFY_CARD) if isinstance(receipt, dict) else None
    return SHOPIFY_CARD + number if number else None


_AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,4})?$")


_DEBITS = ("sale", "capture")
_CREDITS = ("refund", "void")


def _movements(transactions: list[dict[str, Any]]) -> tuple[tuple[str, Decimal, str], ...]:
    """(card, what it did to the card's balance, cause) of each gift-card payment (a debit) or
    refund (a credit), as Shopify's decimal string says it; a transaction of another kind or
    without a readable amount announces nothing."""
    moved: list[tuple[str, Decimal, str]] = []
    for transaction in transactions:
        card = _gift_card_of(transaction)
        amount, kind = transaction.get("amount"), transaction.get("kind")
        if card is None or not isinstance(amount, str) or not _AMOUNT.match(amount) or Decimal(amount) == 0:
            continue
        if kind in _DEBITS:
            moved.append((card, -Decimal(amount), _PAYMENT_KINDS[kind]))
        elif kind in _CREDITS:
            moved.append((card, Decimal(amount), _PAYMENT_KINDS[kind]))
    return tuple(moved)


def _order_ref(order_id: str | None) -> str | None:
    return SHOPIFY_ORDER + order_id if order_id else None


def shopify_signal(topic: str, event_id: str, body: dict[str, Any]) -> Signal:
    if topic == "order_transactions/create":
        card = _gift_card_of(body)
        order_id = _numeric(body.get("order_id"), SHOPIFY_ORDER)
        return Signal("shopify", event_id, topic, card_ids=(card,) if card else (),
                      cause=_PAYMENT_KINDS.get(str(body.get("kind")), "online_checkout"), order_ref=_order_ref(order_id),
                      movements=_movements([body]))
    if topic == "refunds/create":
        order_id = _numeric(body.get("order_id"), SHOPIFY_ORDER)
        transactions = _objects(body.get("transactions"))
        cards = tuple(c for t in transactions if (c := _gift_card_of(t)))
        sold_refunded = any(isinstance(item.get("line_item"), dict) and item["line_item"].get("gift_card") is True
                            for item in _objects(body.get("refund_line_items")))
        orders = ((order_id, 0),) if order_id and sold_refunded else ()
        return Signal("shopify", event_id, topic, card_ids=cards, orders=orders, cause=SHOPIFY_CAUSES[topic],
                      order_ref=_order_ref(order_id), movements=_movements(transactions))
    # orders/paid, orders/cancelled: the order itself.
    order_id = _numeric(body.get("id"), SHOPIFY_ORDER) or _numeric(body.get("admin_graphql_api_id"), SHOPIFY_ORDER)
    sold = sum(_quantity(item) for item in _objects(body.get("line_items")) if item.get("gift_card") is True)
    transactions = _objects(body.get("transactions"))
    for refund in _objects(body.get("refunds")):
        transactions += _objects(refund.get("transactions"))
    cards = tuple(c for t in transactions if (c := _gift_card_of(t)))
    orders = ((order_id, sold),) if order_id and sold else ()
    return Signal("shopify", event_id, topic, card_ids=cards, orders=orders, cause=SHOPIFY_CAUSES.get(topic),
                  order_ref=_order_ref(order_id), movements=_movements(transactions))


def _quantity(item: dict[str, Any]) -> int:
    quantity = item.get("quantity", 1)
    return quantity if isinstance(quantity, int) and not isinstance(quantity, bool) and 0 < quantity <= 1000 else 1


def shopline_signal(topic: str, event_id: str, body: dict[str, Any]) -> Signal:
    raw = body.get("gift_card_code")
    code = PresentedCode(raw) if isinstance(raw, str) and 0 < len(raw) <= 64 else None
    balance = body.get("current_balance")
    hint = balance if isinstance(balance, int) and not isinstance(balance, bool) else None
    return Signal("shopline", event_id, topic, code=code, cause=SHOPLINE_CAUSES.get(str(body.get("scene_type"))),
                  balance_hint=hint)
