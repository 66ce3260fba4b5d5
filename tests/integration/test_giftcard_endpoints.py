"""The four gift-card webhooks end to end: adapter over HTTP, real Postgres, each ledger's
stand-in over HTTP (the issue limit, which only Shopify's configuration states, on the sandbox)."""

import re
from decimal import Decimal

from tests import ledger_view
from tests.conftest import AUTH


async def post(client, path, body, headers=AUTH):
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json(), response.headers


def issue_body(value=50, currency="USD", key="issue-key-1", **extra):
    return {"amount": {"value": value, "currency": currency}, "customer": {"id": "64810476"},
            "metadata": {"original_operation": "refund"}, "idempotence_key": key, **extra}


def activate_body(number, value=100, currency="USD", key="activate-key-1"):
    return {"card_number": number, "amount": {"value": value, "currency": currency},
            "customer": {"id": "64810476", "greeting_name": "Jay"},
            "metadata": {"original_operation": "activation"}, "idempotence_key": key}


async def test_issue_generates_a_code_creates_the_card_and_echoes_the_correlation_id(adapter, ledger, db):
    status, body, _ = await post(adapter, "/gift_card/issue", issue_body(correlation_id="corr-1"))
    assert status == 200
    number = body["identifier"]["number"]
    assert re.fullmatch(r"[a-z0-9]{16}", number)
    assert body["correlation_id"] == "corr-1"
    card = await ledger.card_by_code(number)
    assert card["balance"] == Decimal("50") and card["transactions"] == []
    assert re.fullmatch(r"gca:v1:issue:[0-9a-f]{32}", card["note"])
    status, body, _ = await post(adapter, "/gift_card/balance", {"identifier": {"number": number.upper()}})
    assert (status, body) == (200, {"value": 50, "currency": "USD"})


async def test_issue_keyed_by_correlation_id_when_no_idempotence_key(adapter, ledger):
    body = issue_body(key=None, correlation_id="corr-only")
    del body["idempotence_key"]
    first = await post(adapter, "/gift_card/issue", body)
    second = await post(adapter, "/gift_card/issue", body)
    assert first[1] == second[1] and second[2]["Idempotent-Replayed"] == "true"
    assert len(await ledger.cards()) == 1


async def test_issue_without_any_key_is_processed_each_time(adapter, ledger):
    body = issue_body()
    del body["idempotence_key"]
    first = await post(adapter, "/gift_card/issue", body)
    second = await post(adapter, "/gift_card/issue", body)
    assert first[0] == second[0] == 200
    assert first[1]["identifier"]["number"] != second[1]["identifier"]["number"]
    assert len(await ledger.cards()) == 2


async def test_activate_loads_the_physical_card_with_its_normalised_number(adapter, ledger):
    status, body, _ = await post(adapter, "/gift_card/activate", activate_body("5H78K536-7H09 Q34N22", 100))
    assert (status, body) == (200, {"identifier": {"number": "5h78k5367h09q34n22"}})
    card = await ledger.card_by_code("5h78k5367h09q34n22")
    assert card["balance"] == Decimal("100")
    status, body, _ = await post(adapter, "/gift_card/balance", {"identifier": {"number": "5h78-k536-7h09-q34n22"}})
    assert (status, body) == (200, {"value": 100, "currency": "USD"})


async def test_activate_refuses_a_number_already_in_the_ledger(adapter, ledger):
    await ledger.make_card("existingcard0001", "10.00")  # made elsewhere: not ours to load
    status, body, _ = await post(adapter, "/gift_card/activate", activate_body("existingcard0001", key="a-2"))
    assert status == 400
    assert body == {"error_code": "instrument_error", "message": "card number already in use", "request_accepted": False}
    card = await ledger.card_by_code("existingcard0001")
    assert card["balance"] == Decimal("10") and card["transactions"] == []  # untouched
    # The decline is final for that key: replayed, not re-attempted.
    again = await post(adapter, "/gift_card/activate", activate_body("existingcard0001", key="a-2"))
    assert again[0] == 400 and again[2]["Idempotent-Replayed"] == "true"


async def test_activate_rejects_a_number_the_ledger_cannot_take(adapter, ledger):
    for number in ("short1", "x" * 21, "abcd_efgh_1234"):
        status, body, _ = await post(adapter, "/gift_card/activate", activate_body(number, key=f"k-{number}"))
        assert status == 400 and body["error_code"] == "bad_request"
        assert body["message"].startswith("card_number:")
        assert number not in body["message"]
    assert await ledger.cards() == []


async def test_activate_in_another_currency_than_the_shop_is_a_decline(adapter, ledger):
    status, body, _ = await post(adapter, "/gift_card/activate", activate_body("eurcard000000001", currency="EUR"))
    assert status == 400 and body["error_code"] == "instrument_error"
    assert await ledger.cards() == []


async def test_issue_above_the_shop_issue_limit_is_a_decline(adapter, sandbox):
    # Shopify's giftCardConfiguration states the shop's issue limit (the sandbox's: 3000); the
    # REST ledgers state none.
    status, body, _ = await post(adapter, "/gift_card/issue", issue_body(value=3001))
    assert status == 400 and body["error_code"] == "instrument_error"
    assert (await ledger_view.state(sandbox))["cards"] == []


async def test_balance_finds_a_card_created_elsewhere_and_remembers_it(adapter, ledger, db):
    await ledger.make_card("boughtonline0042", "25.50")
    status, body, _ = await post(adapter, "/gift_card/balance", {"identifier": {"number": "BOUGHT-ONLINE-0042"}})
    async with db.acquire() as conn:
        origins = [row["origin"] for row in await conn.fetch("SELECT origin FROM cards")]
    if not ledger.lookup_by_code:
        # Gift Card Hero can't find a card by its code: one we never registered is not known here.
        assert (status, body) == (400, {"error_code": "instrument_error", "message": "card not known to this adapter",
                                        "request_accepted": False})
        assert origins == []
        return
    assert (status, body) == (200, {"value": 25.5, "currency": "USD"})
    assert origins == ["discovered"]


async def test_balance_of_a_card_made_elsewhere_and_registered(adapter, ledger):
    # What an operator's import makes possible where the ledger can't look codes up.
    await ledger.make_known_card("boughtonline0043", "12.00")
    status, body, _ = await post(adapter, "/gift_card/balance", {"identifier": {"number": "boughtonline0043"}})
    assert (status, body) == (200, {"value": 12, "currency": "USD"})


async def test_balance_of_an_unknown_card_is_an_instrument_error(adapter, ledger):
    for number in ("nosuchcard000001", "tiny"):
        status, body, _ = await post(adapter, "/gift_card/balance", {"identifier": {"number": number}})
        assert (status, body["error_code"]) == (400, "instrument_error")
        expected = "unknown gift card" if ledger.lookup_by_code else "card not known to this adapter"
        assert body["message"] == expected


async def test_balance_of_an_expired_card_is_an_instrument_error(adapter, ledger):
    await ledger.make_known_card("expiredcard00001", "10.00", expires_on="2020-01-01")
    status, body, _ = await post(adapter, "/gift_card/balance", {"identifier": {"number": "expiredcard00001"}})
    assert (status, body["message"]) == (400, "gift card has expired")


async def test_zero_balance_is_answered_as_zero(adapter, ledger):
    card_id = await ledger.make_known_card("zerobalance00001", "0.01")
    # Spent outside the adapter (a checkout online), so the adapter sees a fresh zero.
    assert await ledger.foreign_change(card_id, "-0.01") == Decimal("-0.01")
    status, body, _ = await post(adapter, "/gift_card/balance", {"identifier": {"number": "zerobalance00001"}})
    assert (status, body) == (200, {"value": 0, "currency": "USD"})


async def test_deactivate_is_permanent_and_harmless_to_repeat(adapter, ledger):
    await post(adapter, "/gift_card/activate", activate_body("deactivateme0001", 30))
    first = await post(adapter, "/gift_card/deactivate", {"card_number": "deactivateme0001", "idempotence_key": "d-1"})
    assert first[:2] == (200, {"identifier": {"number": "deactivateme0001"}})
    second = await post(adapter, "/gift_card/deactivate", {"card_number": "DEACTIVATEME0001", "idempotence_key": "d-2"})
    assert second[0] == 200 and "Idempotent-Replayed" not in second[2]
    card = await ledger.card_by_code("deactivateme0001")
    assert card["enabled"] is False and card["balance"] == Decimal("30")
    status, body, _ = await post(adapter, "/gift_card/balance", {"identifier": {"number": "deactivateme0001"}})
    assert (status, body["message"]) == (400, "gift card is deactivated")


async def test_deactivate_of_an_unknown_card_is_an_instrument_error(adapter, ledger):
    status, body, _ = await post(adapter, "/gift_card/deactivate", {"card_number": "nosuchcard000002", "idempotence_key": "d-3"})
    assert (status, body["error_code"]) == (400, "instrument_error")


async def test_unknown_fields_are_ignored_everywhere(adapter):
    body = activate_body("extrafields00001")
    body.update(surprise=1)
    body["amount"]["note"] = "x"
    body["customer"]["nested"] = {"deep": [1, 2]}
    body["metadata"]["whatever"] = True
    status, _, _ = await post(adapter, "/gift_card/activate", body)
    assert status == 200


async def test_openapi_document_is_generated_from_the_request_models(adapter):
    response = await adapter.get("/openapi.json")
    document = await response.json()
    assert response.status == 200 and document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {"/gift_card/balance", "/gift_card/issue", "/gift_card/activate", "/gift_card/deactivate"}
    activate = document["components"]["schemas"]["ActivateRequest"]
    assert set(activate["required"]) == {"card_number", "amount", "customer"}


async def test_health_endpoints(adapter):
    live = await adapter.get("/health/live")
    ready = await adapter.get("/health/ready")
    assert live.status == 200 and ready.status == 200
    assert (await ready.json())["postgres"] == "ok"
