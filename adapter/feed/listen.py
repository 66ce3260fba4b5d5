"""`giftcard-adapter feed listen`: a feed subscriber that prints each event it receives.

For trying the feed out (README, "The balance-change feed") and for checking a subscriber's
configuration end to end: it verifies X-Giftcard-Signature over the raw body with the secrets
it was given (signature.verify, the reference a subscriber implements), answers 200 to an event
it accepts and 401 to anything else, and prints one line per request. It keeps nothing: run it
next to `make run`, not in production.
"""

from __future__ import annotations

import sys
from typing import TextIO

from aiohttp import web

from adapter import jsonio
from adapter.feed import signature


def subscriber_app(secrets: list[str], out: TextIO = sys.stdout) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not signature.verify(request.headers.get(signature.HEADER), body, secrets):
            print("refused: the signature does not verify", file=out, flush=True)
            return web.Response(status=401)
        print(describe(jsonio.loads(body)), file=out, flush=True)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    return app


def describe(event: dict) -> str:
    """One line: sequence, what happened, to which card (last characters only), and why."""
    card = event.get("card") or {}
    amount = "" if event.get("amount") is None else f" {event['amount']} {event.get('currency')}"
    balance = "" if event.get("balance_after") is None else f", balance {event['balance_after']}"
    source = event.get("operation") or event.get("order") or "-"
    return (f"#{event.get('sequence')} {event.get('kind')}{amount} card …{card.get('last_characters')}{balance}"
            f" ({event.get('cause')}, {source}) at {event.get('occurred_at')}")


def run(host: str, port: int, secrets: list[str]) -> None:
    print(f"listening on http://{host}:{port}/ for the feed's webhooks", flush=True)
    web.run_app(subscriber_app(secrets), host=host, port=port, print=None)
