"""Relay-style paging over an already ordered list, with opaque keyset cursors.

A cursor carries the sort key of its item, not a position, so a card that moves while a client
pages (an update under UPDATED_AT) neither hides nor duplicates the cards around it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from graphql import GraphQLError

T = TypeVar("T")
SortKey = tuple[Any, ...]


def encode_cursor(key: SortKey) -> str:
    parts = [{"d": str(part)} if isinstance(part, Decimal) else part for part in key]
    return base64.urlsafe_b64encode(json.dumps(parts, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> SortKey:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return tuple(Decimal(p["d"]) if isinstance(p, dict) else p for p in parts)
    except (ValueError, TypeError, KeyError) as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc


@dataclass
class Page:
    items: list[Any]
    cursors: list[str]
    has_next: bool
    has_previous: bool


def paginate(
    ordered: Sequence[T],
    key: Callable[[T], SortKey],
    *,
    descending: bool,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    cursor_of: Callable[[T, SortKey], str] | None = None,
    key_of_cursor: Callable[[str], SortKey] | None = None,
) -> Page:
    """Slice `ordered` (already sorted by `key`, descending if so) the way Relay connections do.

    `cursor_of`/`key_of_cursor` replace the default cursor (the encoded sort key) when the key
    itself must not leave the sandbox, e.g. a card code under sortKey CODE.
    """
    encode = cursor_of or (lambda _item, item_key: encode_cursor(item_key))
    decode = key_of_cursor or decode_cursor
    if first is None and last is None:
        # Shopify refuses unbounded connections at execution.
        raise GraphQLError("you must provide one of first or last")
    if (first is not None and first < 0) or (last is not None and last < 0):
        raise GraphQLError("first and last must be non-negative")
    keys = [key(item) for item in ordered]
    start, end = 0, len(ordered)

    def comes_after(item_key: SortKey, mark: SortKey) -> bool:
        return item_key < mark if descending else item_key > mark

    def comes_before(item_key: SortKey, mark: SortKey) -> bool:
        return item_key > mark if descending else item_key < mark

    if after is not None:
        mark = decode(after)
        while start < end and not comes_after(keys[start], mark):
            start += 1
    if before is not None:
        mark = decode(before)
        while end > start and not comes_before(keys[end - 1], mark):
            end -= 1
    if first is not None and end - start > first:
        end = start + first
    if last is not None and end - start > last:
        start = end - last
    items = list(ordered[start:end])
    cursors = [encode(item, item_key) for item, item_key in zip(items, keys[start:end], strict=True)]
    return Page(items, cursors, end < len(ordered), start > 0)


def connection(page: Page, node: Callable[[Any], Any]) -> dict[str, Any]:
    cursors = page.cursors
    nodes = [node(item) for item in page.items]
    return {
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "nodes": nodes,
        "pageInfo": {
            "hasNextPage": page.has_next,
            "hasPreviousPage": page.has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }
