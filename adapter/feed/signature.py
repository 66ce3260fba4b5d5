"""X-Giftcard-Signature: the feed's webhook signature, Stripe's scheme.

    X-Giftcard-Signature: t=1764504000,v1=5f2b...e9

t is the Unix time (seconds) the request was signed at (each attempt is signed anew), and v1 the
lower-case hex HMAC-SHA256, under a subscriber secret, of the bytes `<t>.<raw body>`: the
timestamp is inside what is signed, so an old request cannot be replayed under a fresh t.

One v1 per configured secret, the first secret's first. With one secret there is one v1; during
a rotation (secrets [new, old]) there are two, so the subscriber verifies with whichever secret
it holds, and either side may switch first. A subscriber accepts a request when any v1 matches
(constant-time compare) the HMAC under a secret it holds and t is within its tolerance of now
(5 minutes is usual). verify() below is the reference, used by the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "X-Giftcard-Signature"
EVENT_ID_HEADER = "X-Giftcard-Event-Id"
DEFAULT_TOLERANCE_SECONDS = 300


def compute(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    signatures = [f"v1={compute(secret, timestamp, body)}" for secret in secrets]
    if not signatures:
        raise ValueError("a subscriber needs at least one secret")
    return ",".join([f"t={timestamp}", *signatures])


def parse(value: str) -> tuple[int | None, list[str]]:
    """The timestamp (None if absent or not an integer) and every v1 signature of a header."""
    timestamp, signatures = None, []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t" and item.isascii() and item.isdigit():
            timestamp = int(item)
        elif key == "v1":
            signatures.append(item)
    return timestamp, signatures


def verify(value: str | None, body: bytes, secrets: Iterable[str], *, tolerance: float = DEFAULT_TOLERANCE_SECONDS,
           now: float | None = None) -> bool:
    """What a subscriber does: some v1 is the HMAC of `<t>.<body>` under one of its secrets,
    and t is within `tolerance` seconds of now."""
    if not value:
        return False
    timestamp, signatures = parse(value)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    matched = False
    for secret in secrets:
        expected = compute(secret, timestamp, body)
        for signature in signatures:
            # No early exit: every pair is compared.
            matched |= hmac.compare_digest(expected, signature)
    return matched
