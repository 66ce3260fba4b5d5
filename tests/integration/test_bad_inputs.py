"""Bad input gets a clear 4xx in NewStore's shape naming the field, and nothing is written."""

import copy
from decimal import Decimal

import pytest

from adapter import jsonio

from tests import ledger_view
from tests.conftest import AUTH

VALID_ACTIVATE = {"card_number": "badinputcard0001", "amount": {"value": 10, "currency": "USD"},
                  "customer": {}, "idempotence_key": "bad-input-key"}


def activate_with(**changes):
    body = copy.deepcopy(VALID_ACTIVATE)
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return jsonio.dumps(body)


DELETE = object()

CASES = [
    # (raw body, expected status, field named in the message)
    (b"{not json", 400, "body"),
    (b"[]", 400, "body"),
    (b'"a string"', 400, "body"),
    (b"", 400, "body"),
    (b'{"card_number": "badinputcard0001", "amount": {"value": NaN, "currency": "USD"}, "customer": {}}', 400, "amount.value"),
    (b'{"card_number": "badinputcard0001", "amount": {"value": Infinity, "currency": "USD"}, "customer": {}}', 400, "amount.value"),
    (b'{"card_number": "badinputcard0001", "amount": {"value": -Infinity, "currency": "USD"}, "customer": {}}', 400, "amount.value"),
    (b'{"card_number": "badinputcard0001", "amount": {"value": 1e999, "currency": "USD"}, "customer": {}}', 400, "amount.value"),
    ('{"card_number": "badinputcard0001", "amount": {"value": \u0661\u0660, "currency": "USD"}, "customer": {}}'.encode(), 400, "body"),
    ('{"card_number": "badinputcard0001", "amount": {"value": "\uff11\uff10", "currency": "USD"}, "customer": {}}'.encode(), 400, "amount.value"),
    (activate_with(card_number=DELETE), 400, "card_number"),
    (activate_with(card_number=12345678), 400, "card_number"),
    (activate_with(amount=DELETE), 400, "amount"),
    (activate_with(amount="10"), 400, "amount"),
    (activate_with(amount__value=DELETE), 400, "amount.value"),
    (activate_with(amount__value="10"), 400, "amount.value"),
    (activate_with(amount__value=True), 400, "amount.value"),
    (activate_with(amount__value=None), 400, "amount.value"),
    (activate_with(amount__value=0), 400, "amount.value"),
    (activate_with(amount__value=-5), 400, "amount.value"),
    (activate_with(amount__value=Decimal("1e13")), 400, "amount.value"),
    (activate_with(amount__currency="ZZZ"), 400, "amount.currency"),
    (activate_with(amount__currency="US"), 400, "amount.currency"),
    (activate_with(amount__currency=""), 400, "amount.currency"),
    (activate_with(amount__currency=DELETE), 400, "amount.currency"),
    (activate_with(customer=DELETE), 400, "customer"),
    (activate_with(customer="jay"), 400, "customer"),
    (activate_with(customer__id=5), 400, "customer.id"),
    (activate_with(idempotence_key=""), 400, "idempotence_key"),
    (activate_with(idempotence_key="k" * 256), 400, "idempotence_key"),
    (activate_with(idempotence_key=7), 400, "idempotence_key"),
    (activate_with(metadata="x"), 400, "metadata"),
]


@pytest.mark.parametrize(("raw", "status", "field"), CASES)
async def test_bad_activate_bodies(adapter, sandbox, db, raw, status, field):
    response = await adapter.post("/gift_card/activate", data=raw,
                                  headers={**AUTH, "Content-Type": "application/json"})
    body = await response.json()
    assert response.status == status
    assert body["error_code"] == "bad_request" and body["request_accepted"] is False
    assert body["message"].startswith(f"{field}:"), body["message"]
    assert await ledger_view.cards(sandbox) == []
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0
        assert await conn.fetchval("SELECT count(*) FROM ledger_writes") == 0


@pytest.mark.parametrize(("value", "currency"), [(Decimal("1.001"), "USD"), (Decimal("500.5"), "JPY"), (Decimal("1.0001"), "KWD")])
async def test_too_many_decimals_for_the_currency(adapter, sandbox, value, currency):
    raw = activate_with(amount__value=value, amount__currency=currency)
    response = await adapter.post("/gift_card/activate", data=raw, headers={**AUTH, "Content-Type": "application/json"})
    body = await response.json()
    assert response.status == 400 and body["message"].startswith("amount.value:")
    assert currency in body["message"]
    assert await ledger_view.cards(sandbox) == []


async def test_huge_bodies_get_413(adapter, db):
    raw = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = await adapter.post("/gift_card/issue", data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 413
    assert (await response.json())["error_code"] == "bad_request"


@pytest.mark.parametrize("path", ["/gift_card/balance", "/gift_card/issue", "/gift_card/deactivate"])
async def test_every_endpoint_names_the_missing_field(adapter, path):
    response = await adapter.post(path, json={}, headers=AUTH)
    body = await response.json()
    assert response.status == 400 and body["error_code"] == "bad_request"
    assert body["message"].split(":")[0] in {"identifier", "amount", "card_number"}


async def test_unknown_path_and_wrong_method(adapter):
    response = await adapter.post("/gift_card/nope", json={}, headers=AUTH)
    assert response.status == 404 and (await response.json())["error_code"] == "bad_request"
    response = await adapter.get("/gift_card/balance", headers=AUTH)
    assert response.status == 405 and (await response.json())["error_code"] == "bad_request"
