"""X-Giftcard-Signature (Stripe's scheme): the timestamp is inside the signed string, the first
secret signs first, and a changed body, another secret, a moved or stale timestamp all fail."""

import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal
import uuid

import pytest

from adapter.feed import events, signature
from adapter.feed.delivery import FeedSettings
from adapter.store.feed import Event

CURRENT = "c" * 40
PREVIOUS = "p" * 40
BODY = b'{"event_id":"x","amount":12.5}'
NOW = 1_764_504_000


def test_the_header_is_t_and_the_hex_hmac_of_t_dot_body():
    header = signature.header([CURRENT], NOW, BODY)
    expected = hmac.new(CURRENT.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert signature.verify(header, BODY, [CURRENT], now=NOW)


def test_a_changed_body_another_secret_or_a_moved_timestamp_fail():
    header = signature.header([CURRENT], NOW, BODY)
    assert not signature.verify(header, BODY.replace(b"12.5", b"125"), [CURRENT], now=NOW)
    assert not signature.verify(header, BODY, [PREVIOUS], now=NOW)
    resigned = signature.header(["an-attacker-secret-" + "a" * 30], NOW, BODY)
    assert not signature.verify(resigned, BODY, [CURRENT], now=NOW)
    # The timestamp is signed: the same v1 under a fresh t does not verify.
    moved = header.replace(f"t={NOW}", f"t={NOW + 60}")
    assert not signature.verify(moved, BODY, [CURRENT], now=NOW + 60)
    # A stale (replayed) request fails the tolerance.
    assert signature.verify(header, BODY, [CURRENT], now=NOW + 299)
    assert not signature.verify(header, BODY, [CURRENT], now=NOW + 301)
    for broken in (None, "", "v1=" + "0" * 64, f"t={NOW}", f"t=soon,v1={'0' * 64}"):
        assert not signature.verify(broken, BODY, [CURRENT], now=NOW)


def test_during_a_rotation_each_secret_signs_the_first_first():
    header = signature.header([CURRENT, PREVIOUS], NOW, BODY)
    timestamp, signatures = signature.parse(header)
    assert timestamp == NOW and signatures == [signature.compute(CURRENT, NOW, BODY),
                                               signature.compute(PREVIOUS, NOW, BODY)]
    assert signature.verify(header, BODY, [CURRENT], now=NOW)
    assert signature.verify(header, BODY, [PREVIOUS], now=NOW)
    assert not signature.verify(header, BODY, ["o" * 40], now=NOW)
    with pytest.raises(ValueError):
        signature.header([], NOW, BODY)


def test_the_event_body_is_compact_json_with_exact_amounts():
    event = Event(ledger_card_id="gid://shopify/GiftCard/1", last_characters="q34n", kind="debited",
                  cause="online_checkout", amount=Decimal("12.50"), balance_after=Decimal("0.10"), currency="USD",
                  occurred_at=datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC), operation=None, order_ref="#1001",
                  event_id=42, event_uuid=uuid.UUID(int=7))
    assert events.encode(event) == (
        b'{"event_id":"00000000-0000-0000-0000-000000000007","sequence":42,'
        b'"card":{"ledger_id":"gid://shopify/GiftCard/1","last_characters":"q34n"},'
        b'"kind":"debited","cause":"online_checkout","amount":12.5,"balance_after":0.1,"currency":"USD",'
        b'"occurred_at":"2026-11-30T12:00:01.000000Z","operation":null,"order":"#1001"}')


def test_backoff_is_full_jitter_under_a_doubling_ceiling_and_the_cap():
    settings = FeedSettings(backoff_base=10, backoff_cap=3600)
    highest = lambda low, high: high  # noqa: E731
    assert [settings.backoff(n, highest) for n in (1, 2, 3, 9, 10, 11, 500)] == [10, 20, 40, 2560, 3600, 3600, 3600]
    assert settings.backoff(3, lambda low, high: low) == 0
    assert all(0 <= settings.backoff(4) <= 80 for _ in range(100))
