"""The URL table, and nothing else. Route names are the operation labels of the metrics."""

from __future__ import annotations

from aiohttp import web

from adapter.http import feed_handlers as feed
from adapter.http import giftcard_handlers as giftcards
from adapter.http import health, openapi
from adapter.http import payment_handlers as payments
from adapter.http import webhooks


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/gift_card/balance", giftcards.balance, name="balance")
    app.router.add_post("/gift_card/issue", giftcards.issue, name="issue")
    app.router.add_post("/gift_card/activate", giftcards.activate, name="activate")
    app.router.add_post("/gift_card/deactivate", giftcards.deactivate, name="deactivate")
    app.router.add_post("/financial_instruments", payments.authorize, name="authorize")
    app.router.add_post("/financial_instruments/{instrument_id}/_capture", payments.capture, name="capture")
    app.router.add_post("/financial_instruments/{instrument_id}/_refund", payments.refund, name="refund")
    app.router.add_post("/financial_instruments/{instrument_id}/_revoke", payments.revoke, name="revoke")
    app.router.add_get("/v1/gift_cards/events", feed.list_events, name="feed_events")
    app.router.add_get("/health/live", health.live)
    app.router.add_get("/health/ready", health.ready)
    app.router.add_get("/openapi.json", openapi.openapi)
    # The ledgers' webhooks (issue #12's intake): signed by the vendor, not NewStore's API key.
    app.router.add_post("/webhooks/shopify", webhooks.shopify, name="webhook_shopify")
    app.router.add_post("/webhooks/shopline", webhooks.shopline, name="webhook_shopline")
