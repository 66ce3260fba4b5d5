"""Sandbox tests talk to the app over real HTTP through pytest-aiohttp's test server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from giftcard_emulators.shopify.app import SANDBOX_STATE, create_sandbox_app
from giftcard_emulators.shopify.config import SandboxConfig
from giftcard_emulators.shopify.schema import sandbox_schema

TOKEN = "sandbox-token"
GQL_PATH = "/admin/api/2026-10/graphql.json"

CREATE = """
mutation CreateCard($input: GiftCardCreateInput!) {
  giftCardCreate(input: $input) {
    giftCard { id lastCharacters maskedCode enabled expiresOn note createdAt updatedAt
               initialValue { amount currencyCode } balance { amount currencyCode } }
    giftCardCode
    userErrors { field code message }
  }
}"""

DEBIT = """
mutation DebitCard($id: ID!, $input: GiftCardDebitInput!) {
  giftCardDebit(id: $id, debitInput: $input) {
    giftCardDebitTransaction { id note processedAt amount { amount currencyCode }
                               giftCard { id balance { amount currencyCode } } }
    userErrors { field code message }
  }
}"""

CREDIT = """
mutation CreditCard($id: ID!, $input: GiftCardCreditInput!) {
  giftCardCredit(id: $id, creditInput: $input) {
    giftCardCreditTransaction { id note processedAt amount { amount currencyCode }
                                giftCard { id balance { amount currencyCode } } }
    userErrors { field code message }
  }
}"""

READ = """
query ReadCard($id: ID!, $after: String) {
  giftCard(id: $id) {
    id enabled expiresOn deactivatedAt lastCharacters updatedAt balance { amount currencyCode }
    transactions(first: 50, after: $after, reverse: true) {
      nodes { __typename id note processedAt amount { amount currencyCode } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

DEACTIVATE = """
mutation Deactivate($id: ID!) {
  giftCardDeactivate(id: $id) {
    giftCard { id enabled deactivatedAt updatedAt balance { amount currencyCode } }
    userErrors { field code message }
  }
}"""

UPDATE = """
mutation Update($id: ID!, $input: GiftCardUpdateInput!) {
  giftCardUpdate(id: $id, input: $input) {
    giftCard { id note expiresOn templateSuffix updatedAt }
    userErrors { field message }
  }
}"""


@pytest.fixture(scope="session", autouse=True)
def _schema_once() -> None:
    sandbox_schema()


class FakeClock:
    """The ledger's clock, moved by hand so time-dependent rules are tested without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 15, 13, 22, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Shop:
    """A thin client for the sandbox: GraphQL calls plus the /sandbox control routes."""

    def __init__(self, client: TestClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock

    async def raw(self, query: str, variables: dict[str, Any] | None = None, *,
                  token: str | None = TOKEN, path: str = GQL_PATH,
                  headers: dict[str, str] | None = None, operation_name: str | None = None):
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["X-Shopify-Access-Token"] = token
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        response = await self.client.post(path, json=body, headers=all_headers)
        return response, await response.json()

    async def gql(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        response, body = await self.raw(query, variables, **kwargs)
        assert response.status == 200, body
        return body

    async def create(self, amount: str = "100.00", currency: str = "USD", **fields: Any) -> dict[str, Any]:
        payload = {"initialAmount": {"amount": amount, "currencyCode": currency}, **fields}
        return (await self.gql(CREATE, {"input": payload}))["data"]["giftCardCreate"]

    async def card(self, amount: str = "100.00", **fields: Any) -> str:
        created = await self.create(amount, **fields)
        assert created["userErrors"] == [], created
        return created["giftCard"]["id"]

    async def debit(self, card_id: str, amount: str, currency: str = "USD", **extra: Any) -> dict[str, Any]:
        variables = {"id": card_id, "input": {"debitAmount": {"amount": amount, "currencyCode": currency}, **extra}}
        return (await self.gql(DEBIT, variables))["data"]["giftCardDebit"]

    async def credit(self, card_id: str, amount: str, currency: str = "USD", **extra: Any) -> dict[str, Any]:
        variables = {"id": card_id, "input": {"creditAmount": {"amount": amount, "currencyCode": currency}, **extra}}
        return (await self.gql(CREDIT, variables))["data"]["giftCardCredit"]

    async def read(self, card_id: str) -> dict[str, Any] | None:
        return (await self.gql(READ, {"id": card_id}))["data"]["giftCard"]

    async def control(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = await self.client.request(method, path, json=body)
        payload = await response.json()
        if expect is not None:
            assert response.status == expect, payload
        else:
            assert response.status < 300, payload
        return payload

    async def state(self) -> dict[str, Any]:
        return await self.control("GET", "/sandbox/state")

    async def state_card(self, card_id: str) -> dict[str, Any]:
        cards = (await self.state())["cards"]
        return next(card for card in cards if card["id"] == card_id)

    async def seed(self, **body: Any) -> dict[str, Any]:
        body.setdefault("amount", "25.00")
        return await self.control("POST", "/sandbox/cards", body, expect=201)

    async def fault(self, **spec: Any) -> str:
        return (await self.control("POST", "/sandbox/faults", spec))["id"]


@pytest.fixture
def make_shop(aiohttp_client: Callable[..., Any]) -> Callable[..., Any]:
    async def factory(config: SandboxConfig | None = None) -> Shop:
        app = create_sandbox_app(config)
        clock = FakeClock()
        app[SANDBOX_STATE].clock = clock
        return Shop(await aiohttp_client(app), clock)

    return factory


@pytest.fixture
async def shop(make_shop: Callable[..., Any]) -> Shop:
    return await make_shop()


@contextlib.asynccontextmanager
async def sandbox_process(*command: str) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """`python -m <command> --port N` as its own process, once it answers: a session, and its
    GraphQL URL. Stopped on the way out."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", *command, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession(headers={"X-Shopify-Access-Token": TOKEN}) as session:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with session.get(f"http://127.0.0.1:{port}/sandbox/state") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.1)
            yield session, f"http://127.0.0.1:{port}{GQL_PATH}"
            assert process.poll() is None, "the sandbox process ended"
    finally:
        process.terminate()
        process.wait(timeout=10)
