"""Orders of the emulated shop, as far as gift cards are concerned, and the order webhooks Shopify
sends about them (spec §12): the only place gift-card activity is ever pushed.

An order may sell gift cards (`line_items[].gift_card: true`: each unit creates a card linked to
the order, found by `giftCards(query: "order_id:<id>")`) and be paid, wholly or partly, with
gift cards (each payment debits its card as a checkout does: a transaction with no note, none
of ours). A refund or a cancellation gives gift-card payments back to their cards.

Webhooks, when a subscription is configured (giftcard_emulators.webhooks; REST-shaped payloads,
the fields an integration reads, [docs] and [unverified] as spec §12 tags them):
- a paid order: `order_transactions/create` per gift-card payment (`gateway: "gift_card"`,
  `receipt.gift_card_id`, `receipt.gift_card_last_characters`), then `orders/paid`;
- a refund: `order_transactions/create` per refund transaction, then `refunds/create`;
- a cancellation: the refund's webhooks as above, then `orders/cancelled`. Choice (the docs do
  not say): cancelling an order deactivates the gift cards it sold.

Control routes (sandbox-only):
  POST /sandbox/orders                 {line_items: [{title?, price, quantity?, gift_card?}],
                                        gift_card_payments?: [{card_id, amount}], currency?}
                                       -> 201 {order, gift_cards: [{id, code, lastCharacters}], transactions}
  POST /sandbox/orders/{id}/refunds    {amount?}: give back `amount` (default: all that is left)
                                       of the gift-card payments, oldest payment first
  POST /sandbox/orders/{id}/cancel     {}: refund what is left, deactivate the cards it sold
  GET  /sandbox/orders                 every order with its transactions and refunds
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from adapter.domain.currencies import MINOR_UNITS
from giftcard_emulators.control import BadInput, Handler, Respond, control_body
from giftcard_emulators.shopify.formatting import datetime_string, gid
from giftcard_emulators.shopify.schema import parse_decimal
from giftcard_emulators.shopify.state import Card, SandboxState, Transaction
from giftcard_emulators.webhooks import Delivery, WebhookSender, base64_hmac

# Ids that look like Shopify's REST ids and grow.
_ORDER_BASE = 5_601_000_000_000
_LINE_ITEM_BASE = 13_950_000_000_000
_TRANSACTION_BASE = 7_010_000_000_000
_REFUND_BASE = 9_870_000_000_000
_FIRST_ORDER_NUMBER = 1001


@dataclass
class LineItem:
    id: int
    title: str
    quantity: int
    price: Decimal
    gift_card: bool

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "admin_graphql_api_id": gid("LineItem", self.id), "title": self.title,
                "name": self.title, "quantity": self.quantity, "price": _amount(self.price),
                "gift_card": self.gift_card, "requires_shipping": not self.gift_card, "taxable": not self.gift_card,
                "fulfillable_quantity": self.quantity, "product_exists": True}


@dataclass
class OrderTransaction:
    id: int
    order_id: int
    kind: str                    # sale | refund
    amount: Decimal
    currency: str
    card: Card
    created_at: datetime
    ledger_transaction: Transaction
    parent_id: int | None = None

    def view(self) -> dict[str, Any]:
        moment = datetime_string(self.created_at)
        return {"id": self.id, "admin_graphql_api_id": gid("OrderTransaction", self.id), "order_id": self.order_id,
                "kind": self.kind, "gateway": "gift_card", "status": "success", "message": None,
                "created_at": moment, "processed_at": moment, "test": True, "authorization": None,
                "parent_id": self.parent_id, "amount": _amount(self.amount), "currency": self.currency,
                "source_name": "web",
                "receipt": {"gift_card_id": self.card.number, "gift_card_last_characters": self.card.last_characters}}


@dataclass
class Refund:
    id: int
    order_id: int
    created_at: datetime
    transactions: list[OrderTransaction]

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "admin_graphql_api_id": gid("Refund", self.id), "order_id": self.order_id,
                "created_at": datetime_string(self.created_at), "processed_at": datetime_string(self.created_at),
                "note": None, "restock": False, "refund_line_items": [], "order_adjustments": [],
                "transactions": [t.view() for t in self.transactions]}


@dataclass
class Order:
    id: int
    number: int
    currency: str
    created_at: datetime
    line_items: list[LineItem]
    transactions: list[OrderTransaction] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    gift_cards: list[Card] = field(default_factory=list)
    cancelled_at: datetime | None = None

    @property
    def total(self) -> Decimal:
        return sum((item.price * item.quantity for item in self.line_items), Decimal(0))

    def refundable(self, sale: OrderTransaction) -> Decimal:
        refunded = sum((t.amount for t in self.transactions if t.parent_id == sale.id), Decimal(0))
        return sale.amount - refunded

    @property
    def financial_status(self) -> str:
        paid = sum((t.amount for t in self.transactions if t.kind == "sale"), Decimal(0))
        refunded = sum((t.amount for t in self.transactions if t.kind == "refund"), Decimal(0))
        if refunded and refunded >= paid:
            return "refunded"
        return "partially_refunded" if refunded else "paid"

    def view(self) -> dict[str, Any]:
        gateways = (["gift_card"] if any(t.kind == "sale" for t in self.transactions) else [])
        if self.total > sum((t.amount for t in self.transactions if t.kind == "sale"), Decimal(0)):
            gateways.append("manual")  # the rest paid some other way
        moment = datetime_string(self.created_at)
        return {"id": self.id, "admin_graphql_api_id": gid("Order", self.id), "name": f"#{self.number}",
                "order_number": self.number, "created_at": moment, "updated_at": moment, "processed_at": moment,
                "cancelled_at": datetime_string(self.cancelled_at) if self.cancelled_at else None,
                "cancel_reason": "customer" if self.cancelled_at else None,
                "currency": self.currency, "presentment_currency": self.currency,
                "financial_status": self.financial_status, "test": True,
                "total_price": _amount(self.total), "subtotal_price": _amount(self.total),
                "payment_gateway_names": gateways,
                "line_items": [item.view() for item in self.line_items],
                "refunds": [refund.view() for refund in self.refunds]}


def _amount(value: Decimal) -> str:
    """REST money: a decimal string with two places ("20.00")."""
    return f"{value:.2f}"


class OrderBook:
    """The shop's orders. Synchronous, like the ledger it moves."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.reset()

    def reset(self) -> None:
        self.orders: dict[int, Order] = {}
        self._orders = itertools.count(1)
        self._line_items = itertools.count(1)
        self._transactions = itertools.count(1)
        self._refunds = itertools.count(1)

    def place(self, line_items: list[dict[str, Any]], payments: list[tuple[Card, Decimal]], currency: str) -> Order:
        """Everything is checked before anything moves: a refused order changes nothing."""
        spent: dict[int, Decimal] = {}
        today = self.state.today()
        for card, amount in payments:
            if not card.enabled:
                raise BadInput("The gift card is deactivated.")
            if card.is_expired(today):
                raise BadInput("The gift card has expired.")
            if card.currency != currency:
                raise BadInput("The currency provided does not match the currency of the gift card.")
            spent[card.number] = spent.get(card.number, Decimal(0)) + amount
            if spent[card.number] > card.balance:
                raise BadInput("The gift card does not have sufficient funds to satisfy the request.")
        sequence = next(self._orders)
        items = [LineItem(_LINE_ITEM_BASE + next(self._line_items), item["title"], item["quantity"], item["price"],
                          item["gift_card"]) for item in line_items]
        order = Order(_ORDER_BASE + sequence, _FIRST_ORDER_NUMBER + sequence - 1, currency, self.state.now(), items)
        if sum((amount for _, amount in payments), Decimal(0)) > order.total:
            raise BadInput("gift-card payments exceed the order's total")
        for card, amount in payments:
            moved, problem = self.state.post_transaction(card.gid, credit=False, amount=amount, currency=currency,
                                                         note=None, processed_at=None)
            assert moved is not None, problem  # checked above
            order.transactions.append(OrderTransaction(_TRANSACTION_BASE + next(self._transactions), order.id,
                                                       "sale", amount, currency, card, moved.processed_at, moved))
        for item in items:
            if item.gift_card:
                for _ in range(item.quantity):
                    sold = self.state.add_card(code=self.state.new_code(), amount=item.price, currency=currency,
                                               source="purchased")
                    sold.order_id = order.id
                    order.gift_cards.append(sold)
        self.orders[order.id] = order
        return order

    def refund(self, order: Order, amount: Decimal | None) -> Refund | None:
        """Give back `amount` (None: everything left) of the order's gift-card payments."""
        sales = [t for t in order.transactions if t.kind == "sale"]
        left = sum((order.refundable(sale) for sale in sales), Decimal(0))
        wanted = left if amount is None else amount
        if wanted <= 0 and amount is None:
            return None
        if wanted <= 0 or wanted > left:
            raise BadInput(f"refund amount must be positive and at most {_amount(left)}")
        refund = Refund(_REFUND_BASE + next(self._refunds), order.id, self.state.now(), [])
        for sale in sales:
            share = min(wanted, order.refundable(sale))
            if share <= 0:
                continue
            moved, problem = self.state.post_transaction(sale.card.gid, credit=True, amount=share,
                                                         currency=sale.currency, note=None, processed_at=None)
            if moved is None:
                raise BadInput(problem["message"] if problem else "refund refused")
            given = OrderTransaction(_TRANSACTION_BASE + next(self._transactions), order.id, "refund", share,
                                     sale.currency, sale.card, moved.processed_at, moved, parent_id=sale.id)
            order.transactions.append(given)
            refund.transactions.append(given)
            wanted -= share
            if wanted <= 0:
                break
        order.refunds.append(refund)
        return refund

    def cancel(self, order: Order) -> Refund | None:
        if order.cancelled_at is not None:
            raise BadInput("order is already cancelled")
        refund = self.refund(order, None)
        for card in order.gift_cards:
            self.state.deactivate(card)
        order.cancelled_at = self.state.now()
        return refund


def shopify_signer(shop_domain: str, api_version: str):
    """Shopify's webhook headers (spec §12): the body's base64 HMAC-SHA256 under the app secret."""
    def sign(body: bytes, secret: str, delivery: Delivery) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Hmac-Sha256": base64_hmac(secret, body),
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-Event-Id": delivery.event_id,
            "X-Shopify-Triggered-At": delivery.triggered_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
    return sign


def announce_paid(webhooks: WebhookSender, order: Order) -> None:
    for transaction in order.transactions:
        webhooks.emit("order_transactions/create", transaction.view())
    webhooks.emit("orders/paid", order.view())


def announce_refund(webhooks: WebhookSender, refund: Refund) -> None:
    for transaction in refund.transactions:
        webhooks.emit("order_transactions/create", transaction.view())
    webhooks.emit("refunds/create", refund.view())


def _line_items(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise BadInput("line_items must be a non-empty list")
    items = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadInput("each line item must be an object")
        try:
            price = parse_decimal(item.get("price"))
        except ValueError as exc:
            raise BadInput("line_items[].price must be a decimal string") from exc
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 50:
            raise BadInput("line_items[].quantity must be an integer from 1 to 50")
        if price <= 0:
            raise BadInput("line_items[].price must be positive")
        gift_card = bool(item.get("gift_card", False))
        items.append({"title": str(item.get("title") or ("Gift Card" if gift_card else "Item")), "price": price,
                      "quantity": quantity, "gift_card": gift_card})
    return items


def routes(book: OrderBook, webhooks: WebhookSender, respond: Respond,
           guard: Callable[[Handler], Handler]) -> list[web.RouteDef]:
    state = book.state

    def order_of(request: web.Request) -> Order:
        raw = request.match_info["id"].rsplit("/", 1)[-1]
        order = book.orders.get(int(raw)) if raw.isdigit() else None
        if order is None:
            raise BadInput("no such order")
        return order

    def amount_of(value: Any, name: str) -> Decimal:
        try:
            amount = parse_decimal(value)
        except ValueError as exc:
            raise BadInput(f"{name} must be a decimal string") from exc
        if amount <= 0:
            raise BadInput(f"{name} must be positive")
        return amount

    async def place(request: web.Request) -> web.Response:
        body = await control_body(request)
        currency = body.get("currency") or state.config.currency
        if currency not in MINOR_UNITS:
            raise BadInput("currency must be an ISO-4217 code")
        items = _line_items(body.get("line_items"))
        payments = []
        for payment in body.get("gift_card_payments") or []:
            card = state.card_by_gid(str(payment.get("card_id"))) if isinstance(payment, dict) else None
            if card is None:
                raise BadInput("gift_card_payments[].card_id must name a card (its GID)")
            payments.append((card, amount_of(payment.get("amount"), "gift_card_payments[].amount")))
        order = book.place(items, payments, currency)
        announce_paid(webhooks, order)
        return respond({"order": order.view(),
                        "gift_cards": [{"id": c.gid, "code": c.code, "lastCharacters": c.last_characters}
                                       for c in order.gift_cards],
                        "transactions": [t.view() for t in order.transactions]}, status=201)

    async def refund(request: web.Request) -> web.Response:
        order = order_of(request)
        body = await control_body(request)
        amount = amount_of(body["amount"], "amount") if body.get("amount") is not None else None
        made = book.refund(order, amount)
        if made is None:
            raise BadInput("nothing left to refund")
        announce_refund(webhooks, made)
        return respond({"refund": made.view(), "order": order.view()}, status=201)

    async def cancel(request: web.Request) -> web.Response:
        order = order_of(request)
        made = book.cancel(order)
        if made is not None:
            announce_refund(webhooks, made)
        webhooks.emit("orders/cancelled", order.view())
        return respond({"order": order.view()})

    async def listing(_request: web.Request) -> web.Response:
        return respond({"orders": [order.view() for order in book.orders.values()]})

    return [
        web.get("/sandbox/orders", guard(listing)),
        web.post("/sandbox/orders", guard(place)),
        web.post("/sandbox/orders/{id}/refunds", guard(refund)),
        web.post("/sandbox/orders/{id}/cancel", guard(cancel)),
    ]
