"""One API key flooding us gets 429 rate_limit with Retry-After before any work; the others don't."""

import pytest
from prometheus_client import REGISTRY

from adapter import jsonio
from adapter.app import create_app
from adapter.http.keys import RATE_LIMITER
from adapter.http.ratelimit import RateLimiter
from tests import ledger_view
from tests.conftest import API_KEY, OLD_API_KEY, adapter_settings
from tests.served import wait_for

CURRENT = {"Authorization": f"Bearer {API_KEY}"}
PREVIOUS = {"X-API-Key": OLD_API_KEY}
PER_SECOND, BURST = 1, 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def issue(key: str) -> dict:
    return {"amount": {"value": 10, "currency": "USD"}, "customer": {"id": "64810476"}, "idempotence_key": key}


def limited(key: str) -> float:
    return REGISTRY.get_sample_value("giftcard_adapter_rate_limited_requests_total", {"key": key}) or 0.0


@pytest.fixture
async def limited_adapter(aiohttp_client, database_url, sandbox, db):
    async def make(**overrides):
        settings = adapter_settings(database_url, sandbox, rate_limit_per_key_per_second=PER_SECOND,
                                    rate_limit_burst=BURST, **overrides)
        app = create_app(settings)
        clock = Clock()
        app[RATE_LIMITER] = RateLimiter(PER_SECOND, BURST, clock=clock)  # the time is the test's
        client = await aiohttp_client(app, json_serialize=lambda value: jsonio.dumps(value).decode())
        return client, clock

    return make


async def test_a_flooding_key_gets_429_and_writes_nothing_while_another_key_is_served(limited_adapter, sandbox, db):
    adapter, clock = await limited_adapter()
    before_current, before_previous = limited("1"), limited("2")
    for n in range(BURST):
        response = await adapter.post("/gift_card/issue", json=issue(f"rl-{n}"), headers=CURRENT)
        assert response.status == 200, await response.text()

    response = await adapter.post("/gift_card/issue", json=issue("rl-over"), headers=CURRENT)
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    body = await response.json()
    assert body["error_code"] == "rate_limit" and body["request_accepted"] is False
    assert "RATE_LIMIT_PER_KEY_PER_SECOND" in body["message"] and API_KEY not in body["message"]
    # Refused before any work: no card, no claim for its key.
    assert len(await ledger_view.cards(sandbox)) == BURST
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == BURST
    assert limited("1") == before_current + 1

    # The other configured key has a bucket of its own.
    response = await adapter.post("/gift_card/issue", json=issue("rl-other"), headers=PREVIOUS)
    assert response.status == 200
    assert limited("2") == before_previous

    # Health and the OpenAPI document are never limited.
    for path in ("/health/live", "/health/ready", "/openapi.json"):
        for _ in range(BURST + 1):
            assert (await adapter.get(path)).status == 200

    # After the refill the first key is served again.
    clock.now += 1 / PER_SECOND
    response = await adapter.post("/gift_card/issue", json=issue("rl-over"), headers=CURRENT)
    assert response.status == 200
    assert len(await ledger_view.cards(sandbox)) == BURST + 2


async def test_a_wrong_key_is_401_and_spends_no_token(limited_adapter):
    adapter, _ = await limited_adapter()
    for _ in range(BURST + 2):
        assert (await adapter.post("/gift_card/balance", json={}, headers={"X-API-Key": "x" * 40})).status == 401
    assert (await adapter.post("/gift_card/balance", json={}, headers=CURRENT)).status == 400  # served: a bad body


async def test_without_keys_embedded_mode_has_one_bucket(limited_adapter):
    adapter, _ = await limited_adapter(newstore_api_keys=None)
    before = limited("none")
    statuses = [(await adapter.post("/gift_card/balance", json={})).status for _ in range(BURST + 1)]
    assert statuses == [400] * BURST + [429]
    assert limited("none") == before + 1


async def test_the_real_clock_refills(aiohttp_client, database_url, sandbox, db):
    # The limiter create_app builds, on the monotonic clock: wait for the refill, bounded.
    app = create_app(adapter_settings(database_url, sandbox, rate_limit_per_key_per_second=1, rate_limit_burst=1))
    adapter = await aiohttp_client(app)
    statuses = [(await adapter.post("/gift_card/balance", json={}, headers=CURRENT)).status for _ in range(3)]
    assert 429 in statuses

    async def served_again():
        return (await adapter.post("/gift_card/balance", json={}, headers=CURRENT)).status == 400

    await wait_for(served_again, timeout=5)
