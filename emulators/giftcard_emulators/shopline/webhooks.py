"""SHOPLINE's gift-card webhook, `app_memberSystem_giftCard/challenged` (ledgers.md §1, the seed
page 002): sent on every change of a card's balance or state, signed with the app secret.

Sent for: a PUT that moves a balance, a checkout or refund elsewhere (the `foreign_change`
fault, POST /_emulator/cards/{id}/changes), and a disable. Off until /_emulator/webhooks names
a URL and the app secret (giftcard_emulators.webhooks: at least once, breakable on purpose).

Headers: X-Shopline-Topic, X-Shopline-Hmac-Sha256, X-Shopline-Shop-Domain, X-Shopline-Shop-Id,
X-Shopline-Merchant-Id, X-Shopline-API-Version, X-Shopline-Webhook-Id (24 hex digits, like the
page's example; the same on every resend of one event: it is the event's identity).

Body: every field of the page, amounts as integers in minor units (1000 = 10.00 USD), times as
ms epoch. Choices where the page is silent, each one setting away ([unverified]):
- `signature`: "hex" (lowercase, as the official SDKs send it; the default) or "base64" (as the
  page's example looks);
- `code`: "full" (the default) or "masked" (all but the last four characters as `*`): whether
  `gift_card_code` is the full code is unverified;
- `scene_type`: a checkout elsewhere is PURCHASE_PAYMENT (DECREASE), a refund RETURN_INCREASE
  (INCREASE), a disable CARD_DIABLED (sic, with update_value 0); a balance PUT, for which the page
  names no scene, is PURCHASE_PAYMENT when it lowers the balance and RETURN_INCREASE when it
  raises it (`PUT_SCENES`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from giftcard_emulators.control import BadInput
from giftcard_emulators.shopline.config import ShoplineConfig
from giftcard_emulators.shopline.ledger import Card
from giftcard_emulators.shopline.money import exponent
from giftcard_emulators.webhooks import Delivery, WebhookSender, base64_hmac, hex_hmac

TOPIC = "app_memberSystem_giftCard/challenged"
PUT_SCENES = {"DECREASE": "PURCHASE_PAYMENT", "INCREASE": "RETURN_INCREASE"}
FOREIGN_SCENES = {"DECREASE": "PURCHASE_PAYMENT", "INCREASE": "RETURN_INCREASE"}
DISABLED_SCENE = "CARD_DIABLED"  # sic, as the page spells it
OWN_KEYS = frozenset({"signature", "code"})


@dataclass
class WebhookOptions:
    signature: str = "hex"
    code: str = "full"

    def configure(self, body: dict[str, Any]) -> None:
        if "signature" in body and body["signature"] not in ("hex", "base64"):
            raise BadInput("signature must be hex or base64")
        if "code" in body and body["code"] not in ("full", "masked"):
            raise BadInput("code must be full or masked")
        self.signature = body.get("signature", self.signature)
        self.code = body.get("code", self.code)

    def describe(self) -> dict[str, Any]:
        return {"signature": self.signature, "code": self.code}


def sender(config: ShoplineConfig, options: WebhookOptions) -> WebhookSender:
    def sign(body: bytes, secret: str, delivery: Delivery) -> dict[str, str]:
        signature = hex_hmac(secret, body) if options.signature == "hex" else base64_hmac(secret, body)
        return {
            "Content-Type": "application/json",
            "X-Shopline-Topic": delivery.topic,
            "X-Shopline-Hmac-Sha256": signature,
            "X-Shopline-Shop-Domain": config.shop_domain,
            "X-Shopline-Shop-Id": config.shop_id,
            "X-Shopline-Merchant-Id": config.merchant_id,
            "X-Shopline-API-Version": config.api_version,
            "X-Shopline-Webhook-Id": delivery.webhook_id,
        }

    # A resend of one event keeps its webhook id.
    return WebhookSender(sign, duplicate_keeps_webhook_id=True, new_webhook_id=lambda: secrets.token_hex(12))


def _minor(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(exponent(currency)).to_integral_value())


def _ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def _expiry_ms(expires_on: str | None) -> int | None:
    if expires_on is None:
        return None
    try:
        return _ms(datetime.combine(date.fromisoformat(expires_on), time(), UTC))
    except ValueError:
        return _ms(datetime.fromisoformat(expires_on))


def shown_code(card: Card, options: WebhookOptions) -> str:
    return card.code if options.code == "full" else "*" * (len(card.code) - 4) + card.code[-4:]


def payload(card: Card, delta: Decimal, scene_type: str, config: ShoplineConfig,
            options: WebhookOptions) -> dict[str, Any]:
    return {
        "buyer_id": card.customer_id or "",
        "current_balance": _minor(card.balance, card.currency),
        "gift_card_code": shown_code(card, options),
        "gift_card_expiry_date": _expiry_ms(card.expires_on),
        "gift_card_original_value": _minor(card.initial_value, card.currency),
        "scene_type": scene_type,
        "store_id": config.shop_id,
        "update_type": "DECREASE" if delta <= 0 else "INCREASE",
        "update_value": _minor(abs(delta), card.currency),
        "updated_at": _ms(card.updated_at),
    }


def announce(webhooks: WebhookSender, config: ShoplineConfig, options: WebhookOptions, card: Card,
             delta: Decimal, why: str) -> None:
    """`why`: put, foreign (a checkout or refund elsewhere) or disable."""
    direction = "DECREASE" if delta <= 0 else "INCREASE"
    scene = DISABLED_SCENE if why == "disable" else (PUT_SCENES if why == "put" else FOREIGN_SCENES)[direction]
    webhooks.emit(TOPIC, payload(card, delta, scene, config, options))
