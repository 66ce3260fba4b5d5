"""GET /v1/gift_cards/events?after=<cursor>&limit=<1..500>: the feed's pull API.

Authenticated and rate-limited like every NewStore call (adapter.http.admission). The cursor is
an event's sequence as a decimal string ("0", or absent, for the start); the page holds the
events after it in sequence order, which is commit order (adapter.store.feed), so every replica
gives the same page for the same cursor and a reader never sees an event before an older one
that was still being committed. next_cursor is the last event's sequence, or the cursor given
when there is none yet: pass it back as `after` to read on.
"""

from __future__ import annotations

import re

from aiohttp import web
from multidict import MultiMapping

from adapter import jsonio
from adapter.feed import events
from adapter.http.errors import bad_request
from adapter.http.keys import SERVICES
from adapter.store import feed

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_CURSOR = 2 ** 63 - 1  # feed_events.event_id is a bigint
_DIGITS = re.compile(r"[0-9]{1,19}")


def _one(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise bad_request(name, "must be given at most once")
    return values[0] if values else None


def read_cursor(query: MultiMapping[str]) -> int:
    raw = _one(query, "after")
    if raw is None:
        return 0
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_CURSOR:
        raise bad_request("after", "must be a cursor: a next_cursor or sequence this API gave, or 0 for the start")
    return int(raw)


def read_limit(query: MultiMapping[str]) -> int:
    raw = _one(query, "limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


async def list_events(request: web.Request) -> web.Response:
    cursor, limit = read_cursor(request.query), read_limit(request.query)
    async with request.app[SERVICES].pool.acquire() as conn:
        page = await feed.after(conn, cursor, limit)
    body = {"events": [events.document(event) for event in page],
            "next_cursor": str(page[-1].event_id if page else cursor)}
    return web.Response(body=jsonio.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})
