"""Root fields of the gift-card API, resolved against SandboxState as plain dicts.

graphql-core's default resolver reads dict keys and calls callables with (info, **args), so
fields with arguments (a card's transactions) are callables; interface members carry
`__typename`. Everything here is synchronous: a document runs with no await, atomically.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError

from adapter.sandbox.formatting import date_string, datetime_string, gid, money
from adapter.sandbox.pagination import connection, paginate
from adapter.sandbox.search import parse_query
from adapter.sandbox.state import Card, SandboxState, Transaction, user_error

_MASK = "•••• •••• •••• "


def card_view(state: SandboxState, card: Card) -> dict[str, Any]:
    today = state.today()

    def transactions(info, first=None, after=None, last=None, before=None, reverse=False):
        ordered = list(reversed(card.transactions)) if reverse else list(card.transactions)
        page = paginate(ordered, lambda t: (t.number,), descending=bool(reverse), first=first, after=after,
                        last=last, before=before)
        return connection(page, lambda t: transaction_view(state, t))

    return {
        "__typename": "GiftCard",
        "id": card.gid,
        "balance": money(card.balance, card.currency),
        "initialValue": money(card.initial_value, card.currency),
        "enabled": card.enabled,
        "deactivatedAt": datetime_string(card.deactivated_at) if card.deactivated_at else None,
        "disabledAt": datetime_string(card.deactivated_at) if card.deactivated_at else None,
        "expiresOn": date_string(card.expires_on),
        "lastCharacters": card.last_characters,
        "maskedCode": _MASK + card.last_characters,
        "note": card.note,
        "templateSuffix": card.template_suffix,
        "createdAt": datetime_string(card.created_at),
        "updatedAt": datetime_string(card.updated_at),
        "customer": {"id": gid("Customer", card.customer_id)} if card.customer_id else None,
        "order": None,
        "lineItem": None,
        "recipientAttributes": None,
        "isRedeemable": card.enabled and not card.is_expired(today) and card.balance > 0,
        "crossCurrencyRedemptionStrategy": card.cross_currency,
        "transactions": transactions,
    }


def transaction_view(state: SandboxState, txn: Transaction) -> dict[str, Any]:
    return {
        "__typename": txn.typename,
        "id": txn.gid,
        "amount": money(txn.amount, txn.currency),
        "note": txn.note,
        "processedAt": datetime_string(txn.processed_at),
        "giftCard": lambda info: card_view(state, txn.card),
        "metafield": lambda info, **_: None,
        "metafields": lambda info, **_: {"edges": [], "nodes": [], "pageInfo": {
            "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}},
    }


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise GraphQLError(f"Invalid decimal value: {value!r}") from None


def _date(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise GraphQLError(f"Invalid date value: {value!r}") from None


def _datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise GraphQLError(f"Invalid datetime value: {value!r}") from None


def _customer_number(value: Any) -> int | None:
    prefix = "gid://shopify/Customer/"
    if value is None:
        return None
    text = str(value)
    return int(text[len(prefix):]) if text.startswith(prefix) and text[len(prefix):].isdigit() else -1


_SORT_KEYS = {
    "ID": lambda c: (c.number,),
    "CREATED_AT": lambda c: (c.created_at.isoformat(), c.number),
    "UPDATED_AT": lambda c: (c.update_seq, c.number),
    "DISABLED_AT": lambda c: (c.deactivate_seq if c.deactivate_seq is not None else 10**12, c.number),
    "EXPIRES_ON": lambda c: (c.expires_on.isoformat() if c.expires_on else "9999-12-31", c.number),
    "BALANCE": lambda c: (c.balance, c.number),
    "INITIAL_VALUE": lambda c: (c.initial_value, c.number),
    "CODE": lambda c: (c.code, c.number),
    "AMOUNT_SPENT": lambda c: (c.initial_value - c.balance, c.number),
    "CUSTOMER_NAME": lambda c: (c.customer_id or 0, c.number),
}


class Resolvers:
    """The root value: one method per root field we emulate."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def root(self) -> dict[str, Any]:
        return {
            "giftCard": self.gift_card,
            "giftCards": self.gift_cards,
            "giftCardsCount": self.gift_cards_count,
            "giftCardConfiguration": self.configuration,
            "giftCardCreate": self.create,
            "giftCardUpdate": self.update,
            "giftCardCredit": lambda info, id, creditInput: self.post(id, creditInput, credit=True),
            "giftCardDebit": lambda info, id, debitInput: self.post(id, debitInput, credit=False),
            "giftCardDeactivate": self.deactivate,
        }

    # ---- queries ------------------------------------------------------------------------

    def gift_card(self, info, id):
        card = self.state.card_by_gid(id)
        return card_view(self.state, card) if card else None

    def _search(self, info, query: str | None) -> list[Card]:
        parsed = parse_query(query)
        if parsed.warnings:
            info.context["search"].append({"path": [info.field_name], "query": query, "parsed": parsed.parsed,
                                           "warnings": parsed.warnings})
        today = self.state.today()
        return [card for card in self.state.cards.values() if parsed.matches(card, today)]

    def gift_cards(self, info, first=None, after=None, last=None, before=None, reverse=False, sortKey="ID",
                   query=None, savedSearchId=None):
        key = _SORT_KEYS.get(sortKey, _SORT_KEYS["ID"])
        ordered = sorted(self._search(info, query), key=key, reverse=bool(reverse))
        page = paginate(ordered, key, descending=bool(reverse), first=first, after=after, last=last, before=before)
        return connection(page, lambda c: card_view(self.state, c))

    def gift_cards_count(self, info, query=None, savedSearchId=None, limit=10000):
        found = len(self._search(info, query))
        if limit is not None and found > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return {"count": found, "precision": "EXACT"}

    def configuration(self, info):
        config = self.state.config
        return {"issueLimit": money(config.issue_limit, config.currency),
                "purchaseLimit": money(config.purchase_limit, config.currency),
                "expirationConfiguration": None}

    # ---- mutations ----------------------------------------------------------------------

    def create(self, info, input):
        initial = input.get("initialAmount")
        amount, currency = (None, None)
        if initial is not None:
            amount, currency = _decimal(initial["amount"]), initial["currencyCode"]
        elif input.get("initialValue") is not None:
            amount = _decimal(input["initialValue"])
        customer = _customer_number(input.get("customerId"))
        card, error = self.state.create(
            amount=amount, currency=currency, code=input.get("code"), note=input.get("note"),
            expires_on=_date(input.get("expiresOn")), template_suffix=input.get("templateSuffix"),
            customer_id=customer, customer_given="customerId" in input and input["customerId"] is not None,
            cross_currency=input.get("crossCurrencyRedemptionStrategy"),
        )
        if error is not None:
            return {"giftCard": None, "giftCardCode": None, "userErrors": [error]}
        return {"giftCard": card_view(self.state, card), "giftCardCode": card.code, "userErrors": []}

    def post(self, card_id: str, spec: dict, *, credit: bool):
        amount_input = spec["creditAmount" if credit else "debitAmount"]
        txn, error = self.state.post_transaction(
            card_id, credit=credit, amount=_decimal(amount_input["amount"]), currency=amount_input["currencyCode"],
            note=spec.get("note"), processed_at=_datetime(spec.get("processedAt")),
        )
        key = "giftCardCreditTransaction" if credit else "giftCardDebitTransaction"
        if error is not None:
            return {key: None, "userErrors": [error]}
        return {key: transaction_view(self.state, txn), "userErrors": []}

    def deactivate(self, info, id):
        card = self.state.card_by_gid(id)
        if card is None:
            return {"giftCard": None,
                    "userErrors": [user_error(["id"], "GIFT_CARD_NOT_FOUND", "The gift card could not be found.")]}
        self.state.deactivate(card)
        return {"giftCard": card_view(self.state, card), "userErrors": []}

    def update(self, info, id, input):
        changes = dict(input)
        if "expiresOn" in changes:
            changes["expiresOn"] = _date(changes["expiresOn"])
        if "customerId" in changes and changes["customerId"] is not None:
            changes["customerId"] = _customer_number(changes["customerId"])
        card, error = self.state.update(id, changes)
        if error is not None:
            return {"giftCard": None, "userErrors": [error]}
        return {"giftCard": card_view(self.state, card), "userErrors": []}
