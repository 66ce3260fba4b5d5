"""The `giftcard-adapter sandbox` process the benchmarks run: it serves GraphQL over a real
socket and keeps its ledger while it moves long-lived objects out of the collector's sight."""

import asyncio

from tests.sandbox.conftest import CREATE, sandbox_process


async def test_the_standalone_sandbox_keeps_its_cards_across_its_freezes():
    async with sandbox_process("adapter", "sandbox") as (session, url):
        create = {"query": CREATE, "variables": {"input": {"initialAmount": {"amount": "12.50", "currencyCode": "USD"},
                                                           "code": "standalone000001"}}}
        async with session.post(url, json=create) as response:
            created = (await response.json())["data"]["giftCardCreate"]["giftCard"]
        await asyncio.sleep(2.2)  # two freezes later
        read = {"query": "query($id: ID!) { giftCard(id: $id) { balance { amount } } }",
                "variables": {"id": created["id"]}}
        async with session.post(url, json=read) as response:
            body = await response.json()
    assert body["data"]["giftCard"]["balance"]["amount"] == "12.5"
