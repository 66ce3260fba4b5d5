"""Cards linked to the Shopify customer NewStore names (issue #13), against the sandbox over
HTTP: found by email with one extra read, created when allowed, never two for a retried issue,
never a notification, and never a failed issue for a link that cannot be made."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from adapter.http.keys import SERVICES
from tests import ledger_view
from tests.conftest import AUTH

EMAIL = "jay_doubleyou@example.com"


def issue_body(key: str, email: str | None = EMAIL, amount: int = 50) -> dict:
    return {"amount": {"value": amount, "currency": "USD"}, "idempotence_key": key,
            "customer": {"id": "64810476", "email": email, "name": "Jay Doubleyou", "greeting_name": "Jay"}}


async def issue(adapter, key: str, **kwargs) -> str:
    response = await adapter.post("/gift_card/issue", json=issue_body(key, **kwargs), headers=AUTH)
    assert response.status == 200, await response.text()
    return (await response.json())["identifier"]["number"]


def calls(root_field: str) -> float:
    return REGISTRY.get_sample_value("giftcard_adapter_shopify_calls_total",
                                     {"operation": root_field, "result": "ok"}) or 0.0


def links(result: str) -> float:
    return REGISTRY.get_sample_value("giftcard_adapter_shopify_customer_links_total", {"result": result}) or 0.0


async def customers(sandbox) -> list[dict]:
    return (await ledger_view.state(sandbox))["customers"]


async def add_customer(sandbox, email: str) -> str:
    return (await ledger_view._call("POST", f"{sandbox.base_url}/sandbox/customers", {"email": email}))["id"]


async def test_an_issue_links_the_card_to_the_customer_found_by_email_with_one_extra_read(make_adapter, sandbox):
    adapter = await make_adapter(shopify_link_customers=True)
    customer = await add_customer(sandbox, EMAIL.upper())  # Shopify's search ignores case; so do we
    before = {field: calls(field) for field in ("customers", "customerCreate", "giftCardCreate")}
    linked = links("linked")
    number = await issue(adapter, "link-1")
    card = await ledger_view.card_by_code(sandbox, number)
    assert card["customerId"] == customer and card["notify"] is False
    assert {field: calls(field) - before[field] for field in before} == {
        "customers": 1, "customerCreate": 0, "giftCardCreate": 1}
    assert links("linked") == linked + 1


async def test_a_customer_shopify_lacks_is_created_once_for_every_issue_and_retry(make_adapter, sandbox):
    adapter = await make_adapter(shopify_link_customers=True, shopify_create_customers=True)
    await ledger_view.add_fault(sandbox, kind="lose_response", operation="giftCardCreate", count=1)
    response = await adapter.post("/gift_card/issue", json=issue_body("create-1"), headers=AUTH)
    assert response.status == 503  # the create's answer was lost: NewStore retries
    first = await issue(adapter, "create-1")  # the retry settles the same card
    second = await issue(adapter, "create-2")  # another card for the same customer
    made = await customers(sandbox)
    assert [c["email"] for c in made] == [EMAIL]
    cards = [await ledger_view.card_by_code(sandbox, n) for n in (first, second)]
    assert len(await ledger_view.cards(sandbox)) == 2
    assert {c["customerId"] for c in cards} == {made[0]["id"]} and not any(c["notify"] for c in cards)


async def test_without_the_setting_nothing_is_looked_up_and_the_card_is_unlinked(adapter, sandbox):
    await add_customer(sandbox, EMAIL)
    before = calls("customers")
    number = await issue(adapter, "plain-1")
    assert (await ledger_view.card_by_code(sandbox, number))["customerId"] is None
    assert calls("customers") == before


@pytest.mark.parametrize("email, reason", [(None, "no_email"), ("not an email", "no_email"),
                                          ("someone.else@example.com", "not_found")])
async def test_a_customer_that_cannot_be_found_leaves_the_card_unlinked(make_adapter, sandbox, email, reason):
    adapter = await make_adapter(shopify_link_customers=True)
    await add_customer(sandbox, EMAIL)
    counted = links(reason)
    number = await issue(adapter, "unlinked-1", email=email)
    assert (await ledger_view.card_by_code(sandbox, number))["customerId"] is None
    assert links(reason) == counted + 1
    assert len(await customers(sandbox)) == 1  # nothing created without SHOPIFY_CREATE_CUSTOMERS


async def test_a_failing_lookup_never_fails_the_issue(make_adapter, sandbox, captured_logs):
    adapter = await make_adapter(shopify_link_customers=True, shopify_create_customers=True)
    await add_customer(sandbox, EMAIL)
    await ledger_view.add_fault(sandbox, kind="error_5xx", operation="customers", count=10)
    failed = links("failed")
    number = await issue(adapter, "failing-1")
    card = await ledger_view.card_by_code(sandbox, number)
    assert card["customerId"] is None and Decimal(card["balance"]) == 50
    assert links("failed") == failed + 1
    assert EMAIL not in captured_logs() and number not in captured_logs()
