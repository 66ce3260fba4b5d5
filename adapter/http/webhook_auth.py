"""Verifying a ledger's webhook signature: HMAC-SHA256 of the raw body under the app secret,
checked before the body is parsed, in constant time, against every accepted secret (no early
exit: how long a check takes says nothing of which secret, or how much of the signature, matched).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence


def _digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def _decoded(signature: str | None) -> tuple[bytes | None, bytes | None]:
    """The signature read as base64 and as hex (either may not parse)."""
    if not signature:
        return None, None
    text = signature.strip()
    try:
        as_base64 = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        as_base64 = None
    try:
        as_hex = bytes.fromhex(text)
    except ValueError:
        as_hex = None
    return as_base64, as_hex


def valid_base64(body: bytes, signature: str | None, secrets: Sequence[str]) -> bool:
    """Shopify: X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(secret, body)); any of `secrets`."""
    as_base64, _ = _decoded(signature)
    matched = False
    for secret in secrets:
        expected = _digest(secret, body)
        matched |= hmac.compare_digest(as_base64 if as_base64 is not None else b"", expected)
    return matched


def valid_hex_or_base64(body: bytes, signature: str | None, secrets: Sequence[str]) -> bool:
    """SHOPLINE: the same HMAC, sent as lowercase hex by the official SDKs and as base64 in the
    docs' example (ledgers.md §1): either encoding is accepted."""
    as_base64, as_hex = _decoded(signature)
    matched = False
    for secret in secrets:
        expected = _digest(secret, body)
        matched |= hmac.compare_digest(as_base64 if as_base64 is not None else b"", expected)
        matched |= hmac.compare_digest(as_hex if as_hex is not None else b"", expected)
    return matched
