"""SHOPLINE's cursor paging: since_id for the first page, then opaque `page_info` cursors handed out
in the `Link` response header. A cursor carries the position and every filter of the first
request, so a request with `page_info` ignores its other filters (only `limit` and `fields` apply).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from yarl import URL

from giftcard_emulators.shopline import choices
from giftcard_emulators.shopline.errors import ApiError

T = TypeVar("T")


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, "page_info is invalid") from exc
    if not isinstance(payload, dict) or payload.get("direction") not in ("next", "prev") \
            or not isinstance(payload.get("anchor"), str):
        raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, "page_info is invalid")
    return payload


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(choices.LIMIT_OUT_OF_RANGE_STATUS, f"limit must be between 1 and {maximum}")
    return int(raw)


@dataclass
class Page(Generic[T]):
    items: list[T]
    previous: str | None  # the anchor of a previous page, if there is one
    next: str | None


def paginate(items: Sequence[T], key: Callable[[T], Any], anchor_of: Callable[[T], str],
             parse_anchor: Callable[[str], Any], *, descending: bool, limit: int,
             direction: str = "next", anchor: str | None = None) -> Page[T]:
    """`items` is the whole filtered list in answer order. The next page holds what follows the
    anchor in that order, the previous page what precedes it."""

    def before(a: Any, b: Any) -> bool:  # a comes before b in answer order
        return a > b if descending else a < b

    if anchor is None:
        page = list(items[:limit])
    else:
        mark = parse_anchor(anchor)
        if direction == "next":
            page = [item for item in items if before(mark, key(item))][:limit]
        else:
            earlier = [item for item in items if before(key(item), mark)]
            page = earlier[-limit:] if earlier else []
    if not page:
        return Page([], None, None)
    first, last = key(page[0]), key(page[-1])
    has_previous = any(before(key(item), first) for item in items)
    has_next = any(before(last, key(item)) for item in items)
    return Page(page, anchor_of(page[0]) if has_previous else None, anchor_of(page[-1]) if has_next else None)


def link_header(url: URL, limit: int, filters: dict[str, Any], page: Page[Any]) -> str | None:
    links = []
    for rel, anchor, direction in (("previous", page.previous, "prev"), ("next", page.next, "next")):
        if anchor is None:
            continue
        token = encode_cursor({**filters, "anchor": anchor, "direction": direction})
        target = url.with_query({"limit": str(limit), "page_info": token})
        links.append(f'<{target}>; rel="{rel}"')
    return ", ".join(links) or None
