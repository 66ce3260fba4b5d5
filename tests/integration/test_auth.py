"""API keys: Bearer, raw Authorization or X-API-Key; several valid for rotation; 401 otherwise."""

import pytest

from tests.conftest import API_KEY, OLD_API_KEY

BODY = {"identifier": {"number": "nosuchcard000001"}}


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {API_KEY}"},
    {"Authorization": f"bearer {API_KEY}"},
    {"Authorization": API_KEY},
    {"X-API-Key": API_KEY},
    {"X-API-Key": OLD_API_KEY},
])
async def test_accepted_key_forms(adapter, headers):
    response = await adapter.post("/gift_card/balance", json=BODY, headers=headers)
    assert response.status == 400  # authenticated; the card is simply unknown


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {API_KEY}"},
    {"X-API-Key": API_KEY[:-1]},
    {"Authorization": "Bearer "},
])
async def test_refused_without_a_valid_key_before_the_body_is_read(adapter, headers):
    response = await adapter.post("/gift_card/issue", data=b"{broken", headers=headers)
    body = await response.json()
    assert response.status == 401
    assert body == {"error_code": "unauthorized", "message": "missing or invalid API key", "request_accepted": False}
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_health_and_openapi_need_no_key(adapter):
    for path in ("/health/live", "/openapi.json"):
        assert (await adapter.get(path)).status == 200


async def test_keys_never_reach_the_logs(adapter, captured_logs):
    await adapter.post("/gift_card/balance", json=BODY, headers={"Authorization": f"Bearer {API_KEY}"})
    await adapter.post("/gift_card/balance", json=BODY, headers={"Authorization": "Bearer guessed-key-123"})
    logs = captured_logs()
    assert "request" in logs
    assert API_KEY not in logs and "guessed-key-123" not in logs
