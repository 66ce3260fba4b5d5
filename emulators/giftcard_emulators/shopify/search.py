"""The `query:` search syntax of giftCards/giftCardsCount (spec §8.1), and of customers.

Supported: whitespace-separated terms (implicit AND), `OR`, `NOT`/leading `-`, `field:value` with
`>`, `>=`, `<`, `<=` comparators and quoted values. Fields Shopify ignores (updated_at,
last_characters, enabled, active, anything unknown) filter nothing and produce the warning Shopify
attaches under `extensions.search`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from giftcard_emulators.shopify.state import Card, normalise_phone

# Over a Card, or a Customer for customers(query:).
Predicate = Callable[[Any, date], bool]

_TOKEN = re.compile(r"""-?[\w.]+:(?:[<>]=?|=)?(?:'[^']*'|"[^"]*"|\S*)|'[^']*'|"[^"]*"|\S+""")
_TERM = re.compile(r"^(?P<field>[\w.]+):(?P<op>[<>]=?|=)?(?P<value>.*)$")
_RANGE_NAMES = {">": "range_gt", ">=": "range_gte", "<": "range_lt", "<=": "range_lte"}
SEARCH_WARNING_MESSAGE = "Invalid search field for this query."


@dataclass
class ParsedQuery:
    groups: list[list[Predicate]]
    parsed: dict[str, Any]
    warnings: list[dict[str, str]] = field(default_factory=list)
    # Set when the query is one plain term longer than four characters: only the card with
    # exactly that code can match (the term can't be inside a four-character suffix), so the
    # search may look the code up instead of scanning every card.
    exact_code: str | None = None

    def matches(self, card: Any, today: date) -> bool:
        return any(all(p(card, today) for p in group) for group in self.groups)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    return left == right


def _parse_moment(value: str) -> tuple[datetime, bool] | None:
    """A datetime (date-only values count as midnight UTC) and whether only a date was given."""
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC), True
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, False


def _numeric_id(value: str) -> int | None:
    tail = value.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _balance_status(card: Card) -> str:
    if card.balance <= 0:
        return "empty"
    return "full" if card.balance >= card.initial_value else "partial"


def _status_matches(card: Card, today: date, value: str) -> bool:
    if value == "enabled":
        return card.enabled
    if value == "disabled":
        return not card.enabled
    if value == "expired":
        return card.is_expired(today)
    if value == "expiring":
        return card.expires_on is not None and not card.is_expired(today)
    return False


def _predicate(name: str, op: str, value: str) -> Predicate | None:
    """None means Shopify ignores this field."""
    if name == "default":
        needle = value.lower()
        return lambda card, _t: card.code == needle or needle in card.last_characters
    if name == "id":
        number = _numeric_id(value)
        return lambda card, _t: number is not None and _compare(card.number, op, number)
    if name == "initial_value":
        try:
            amount = Decimal(value)
        except InvalidOperation:
            return lambda _c, _t: False
        return lambda card, _t: _compare(card.initial_value, op, amount)
    if name == "created_at":
        parsed = _parse_moment(value)
        if parsed is None:
            return lambda _c, _t: False
        moment, date_only = parsed
        if date_only and op == "=":
            return lambda card, _t: card.created_at.date() == moment.date()
        return lambda card, _t: _compare(card.created_at, op, moment)
    if name == "expires_on":
        parsed = _parse_moment(value)
        if parsed is None:
            return lambda _c, _t: False
        day = parsed[0].date()
        return lambda card, _t: card.expires_on is not None and _compare(card.expires_on, op, day)
    if name == "customer_id":
        number = _numeric_id(value)
        return lambda card, _t: card.customer_id is not None and card.customer_id == number
    if name == "order_id":
        # The order that sold the card: `order_id:<id>` (the Shopify <-> POS thread's filter;
        # not in the 2026-07 schema's filter table, spec §12), a number or an Order GID, with
        # the comparators `id` takes.
        number = _numeric_id(value)
        return lambda card, _t: card.order_id is not None and number is not None and _compare(card.order_id, op, number)
    if name == "recipient_id":
        number = _numeric_id(value)
        return lambda card, _t: card.recipient is not None and card.recipient.customer_id == number
    if name == "source":
        return lambda card, _t: card.source == value.lower()
    if name == "status":
        return lambda card, today: _status_matches(card, today, value.lower())
    if name == "balance_status":
        wanted = value.lower()
        if wanted == "full_or_partial":
            return lambda card, _t: _balance_status(card) in ("full", "partial")
        return lambda card, _t: _balance_status(card) == wanted
    return None


def customer_predicate(name: str, op: str, value: str) -> Predicate | None:
    """customers(query:), the fields the sandbox models. `email:` matches the whole address, case
    ignored (what Shopify's quoted phrase query does, and what a lookup by email needs), or its
    whole domain (the schema's `email:gmail.com` example: Shopify tokenizes emails; the sandbox
    knows no other token). `phone:` matches the whole number, in any format that normalises to
    it. `email:*`/`phone:*`: any customer that has one. None: a field Shopify ignores here."""
    if name == "email":
        wanted = value.strip().lower()
        return lambda c, _t: c.email is not None and (
            wanted in ("*", c.email) or c.email.rpartition("@")[2] == wanted)
    if name == "phone":
        wanted = "*" if value == "*" else (normalise_phone(value) or value)
        return lambda c, _t: c.phone is not None and (wanted == "*" or c.phone == wanted)
    if name in ("first_name", "last_name"):
        wanted = value.lower()
        return lambda c, _t: (getattr(c, name) or "").lower() == wanted
    if name == "id":
        number = _numeric_id(value)
        return lambda c, _t: number is not None and _compare(c.number, op, number)
    if name == "default":
        needle = value.lower()
        return lambda c, _t: any(needle in (part or "").lower()
                                 for part in (c.email, c.phone, c.first_name, c.last_name))
    return None


def parse_query(text: str | None, predicate: Callable[[str, str, str], Predicate | None] = _predicate) -> ParsedQuery:
    if not text or not text.strip():
        return ParsedQuery([[]], {})
    groups: list[list[Predicate]] = [[]]
    parsed_groups: list[list[dict[str, Any]]] = [[]]
    warnings: list[dict[str, str]] = []
    negate_next = False
    for token in _TOKEN.findall(text):
        if token == "AND":
            continue
        if token == "OR":
            groups.append([])
            parsed_groups.append([])
            continue
        if token == "NOT":
            negate_next = True
            continue
        negate = negate_next or (token.startswith("-") and len(token) > 1)
        negate_next = False
        if token.startswith("-"):
            token = token[1:]
        match = _TERM.match(token)
        if match:
            name, op, value = match["field"], match["op"] or "=", _unquote(match["value"])
        else:
            name, op, value = "default", "=", _unquote(token)
        node: dict[str, Any] = {"field": name}
        node[_RANGE_NAMES.get(op, "match_all")] = value
        test = predicate(name, op, value)
        if test is None:
            warnings.append({"field": name, "message": SEARCH_WARNING_MESSAGE, "code": "invalid_field"})
        elif negate:
            inner = test
            groups[-1].append(lambda card, today, inner=inner: not inner(card, today))
        else:
            groups[-1].append(test)
        parsed_groups[-1].append({"not": node} if negate else node)

    def combine(nodes: list[dict[str, Any]]) -> dict[str, Any]:
        return nodes[0] if len(nodes) == 1 else {"and": nodes}

    parsed_list = [combine(g) for g in parsed_groups if g]
    parsed = parsed_list[0] if len(parsed_list) == 1 else {"or": parsed_list}
    needle = parsed.get("match_all") if parsed.get("field") == "default" else None
    exact = needle.lower() if needle is not None and len(needle) > 4 else None
    return ParsedQuery(groups, parsed, warnings, exact)
