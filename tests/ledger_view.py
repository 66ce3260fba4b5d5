"""Reading the sandbox's ledger from tests, through its sandbox-only HTTP endpoints."""

from __future__ import annotations

from decimal import Decimal

import aiohttp


async def _call(method: str, url: str, json=None):
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, json=json) as response:
            response.raise_for_status()
            return await response.json(content_type=None)


async def state(sandbox) -> dict:
    return await _call("GET", f"{sandbox.base_url}/sandbox/state")


async def cards(sandbox) -> list[dict]:
    return (await state(sandbox))["cards"]


async def card_by_code(sandbox, code: str) -> dict | None:
    matches = [c for c in await cards(sandbox) if c["code"] == code]
    assert len(matches) <= 1
    return matches[0] if matches else None


async def make_card(sandbox, code: str, amount: str, currency: str = "USD", expires_on: str | None = None) -> str:
    """A card created outside the adapter, as if bought online."""
    made = await _call("POST", f"{sandbox.base_url}/sandbox/cards",
                       {"code": code, "amount": amount, "currency": currency, "expires_on": expires_on})
    return made["id"]


async def add_fault(sandbox, **fault) -> None:
    await _call("POST", f"{sandbox.base_url}/sandbox/faults", fault)


async def clear_faults(sandbox) -> None:
    await _call("DELETE", f"{sandbox.base_url}/sandbox/faults")


async def release_held(sandbox) -> None:
    await _call("POST", f"{sandbox.base_url}/sandbox/release")


async def reset_counters(sandbox) -> None:
    """The call and THROTTLED counts start again (the ledger stays)."""
    await _call("POST", f"{sandbox.base_url}/sandbox/counters/reset")


async def configure(sandbox, **changes) -> None:
    await _call("POST", f"{sandbox.base_url}/sandbox/config", changes)


def balance_of(card: dict) -> Decimal:
    value = card["balance"]
    return Decimal(value["amount"] if isinstance(value, dict) else value)


def assert_balance_matches_transactions(card: dict) -> None:
    initial = card["initial_value"] if "initial_value" in card else card["initialValue"]
    initial = Decimal(initial["amount"] if isinstance(initial, dict) else initial)
    moved = sum((Decimal(t["amount"]["amount"] if isinstance(t["amount"], dict) else t["amount"])
                 for t in card["transactions"]), Decimal(0))
    assert balance_of(card) == initial + moved


async def shopify_debit(sandbox, card_id: str, amount: str, currency: str = "USD", note: str | None = None) -> dict:
    """A debit made straight against the sandbox's Admin API, as a checkout online would."""
    query = """mutation D($id: ID!, $input: GiftCardDebitInput!) {
      giftCardDebit(id: $id, debitInput: $input) { giftCardDebitTransaction { id } userErrors { field code message } } }"""
    variables = {"id": card_id, "input": {"debitAmount": {"amount": amount, "currencyCode": currency}, "note": note}}
    async with aiohttp.ClientSession() as session:
        async with session.post(sandbox.graphql_url, json={"query": query, "variables": variables},
                                headers={"X-Shopify-Access-Token": sandbox.config.access_token}) as response:
            body = await response.json()
    assert body["data"]["giftCardDebit"]["userErrors"] == [], body
    return body


async def calls(sandbox, root_field: str) -> int:
    """How many documents with this root field (giftCards: a search) the sandbox has received."""
    return (await state(sandbox))["calls"].get(root_field, 0)
