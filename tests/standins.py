"""The three ledgers' stand-ins behind one small interface, for tests that run on every ledger.

One class per ledger, the same methods on each:

- `settings_overrides()` / `env()`: what points an adapter (in-process or a `serve` process) at it;
- `make_card(code, amount, currency="USD", expires_on=None) -> id`: a card made outside the
  adapter, as if bought online;
- `cards()`, `card(id)`, `card_by_code(code)`: the ledger's cards as neutral dicts (below);
- `add_fault(kind, operation=None, **options)`: one of the fault registry's kinds (latency,
  error_5xx, internal_server_error, lose_response, hold; `stage`, `count` or `probability` +
  `seed`, ...) on a neutral operation, translated to the ledger's own names (OPERATIONS);
  `kind="foreign_change"` (absolute ledgers only: `card_id`, `delta`, `count`) moves the card's
  balance right after the ledger has answered a read of it (operation "read" by default: the
  card read that precedes our PUT);
- `clear_faults()`, `release_held()`, `held()`, `faults_fired()`, `calls(operation)`;
- `foreign_change(card_id, delta)`: a change made now, outside the adapter (Shopify: a debit or
  credit through the Admin API, as a web-shop checkout would; the others: what their emulator
  records for a checkout or a refund elsewhere). Answers the change the ledger made, or None;
- `register(code, card_id)`: on a ledger without lookup by code (Gift Card Hero), a card made
  outside the adapter is known only once it is registered: this imports it as an operator
  would, with `cards import` of the vendor's export (ledgers.md §3 Decision 3). A no-op elsewhere.
  `make_known_card(...)` is make_card, then register: a card made elsewhere that the adapter
  can serve on every ledger;
- `assert_consistent()`: every card's balance equals its initial value plus its transactions.

A neutral card: {"id", "code", "currency", "balance" (Decimal), "initial_value" (Decimal),
"enabled", "expires_on", "note", "transactions": [{"id", "amount" (signed Decimal), "note",
"ours"}]}. `transactions` are the card's movements after creation, oldest first (Gift Card Hero's
own "Initial gift card creation" entry is the creation, not a movement). `ours` is True for a
movement the adapter's API client made (Shopify: its note carries our marker; SHOPLINE: a PUT of
the Admin API; Gift Card Hero: a transaction of the API client), False for one made elsewhere.

Neutral operations (OPERATIONS): create, debit, credit, write (any balance write), read (the
card read), history, deactivate, search, or None (any call). On the absolute ledgers a debit and
a credit are one and the same PUT, so debit, credit and write name the same call there.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import aiohttp
from pydantic import SecretStr

LEDGERS = ("shopify", "shopline", "gifthero")

OPERATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "shopify": {"create": ("giftCardCreate",), "debit": ("giftCardDebit",), "credit": ("giftCardCredit",),
                "write": ("giftCardDebit", "giftCardCredit"), "read": ("giftCard",), "history": ("giftCard",),
                "deactivate": ("giftCardDeactivate",), "search": ("giftCards",)},
    "shopline": {"create": ("create_gift_card",), "debit": ("update_gift_card",), "credit": ("update_gift_card",),
                 "write": ("update_gift_card",), "read": ("get_gift_card",), "history": ("list_operation_records",),
                 "deactivate": ("disable_gift_card",), "search": ("list_gift_cards",)},
    "gifthero": {"create": ("create",), "debit": ("set_balance",), "credit": ("set_balance",),
                 "write": ("set_balance",), "read": ("get",), "history": ("transactions",),
                 "deactivate": ("disable",), "search": ("search",)},
}


async def _call(session: aiohttp.ClientSession, method: str, url: str, json: Any = None) -> Any:
    async with session.request(method, url, json=json) as response:
        body = await response.json(content_type=None)
        assert response.status < 300, (method, url, response.status, body)
        return body


def _decimal(value: Any) -> Decimal:
    if isinstance(value, dict):
        value = value["amount"]
    return Decimal(str(value))


def _money(amount: Any) -> str:
    return str(Decimal(str(amount)).quantize(Decimal("0.01")))


class Standin:
    name: str
    absolute: bool          # moves money by setting balances (the exactly-once protocol applies)
    lookup_by_code: bool    # the adapter can find a card made elsewhere by its code

    notes: bool             # its balance changes carry our note (the marker) to read back

    @property
    def label(self) -> str:
        """For reports: the name, and the API version where one ledger is run in several."""
        return self.name

    def __init__(self, db=None) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.db = db  # the test's pool: where register() writes

    def __repr__(self) -> str:
        return f"<{self.name} stand-in>"

    async def start(self) -> Standin:
        self.session = aiohttp.ClientSession()
        await self._start()
        return self

    async def close(self) -> None:
        try:
            await self._close()
        finally:
            if self.session is not None:
                await self.session.close()

    async def _start(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        assert self.session is not None
        return await _call(self.session, method, self.control_url + path, body)

    # ---- what every stand-in has ------------------------------------------------------------

    def settings_overrides(self) -> dict[str, Any]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The same settings as environment variables, for a `giftcard-adapter serve` process."""
        values = {}
        for name, value in self.settings_overrides().items():
            values[name.upper()] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        return values

    def operations(self, operation: str | None) -> tuple[str | None, ...]:
        if operation is None:
            return (None,)
        try:
            return OPERATIONS[self.name][operation]
        except KeyError:
            raise ValueError(f"no neutral operation {operation!r} (one of {', '.join(OPERATIONS[self.name])})") from None

    async def state(self) -> dict[str, Any]:
        return await self.control("GET", "/state")

    async def card(self, card_id: str) -> dict[str, Any]:
        [card] = [c for c in await self.cards() if c["id"] == card_id]
        return card

    async def card_by_code(self, code: str) -> dict[str, Any] | None:
        matches = [c for c in await self.cards() if c["code"] == code]
        assert len(matches) <= 1
        return matches[0] if matches else None

    async def add_fault(self, kind: str, operation: str | None = None, **options: Any) -> None:
        if kind == "foreign_change":
            await self._add_foreign_fault(operation or "read", **options)
            return
        for name in self.operations(operation):
            spec = {"kind": kind, **options}
            if name is not None:
                spec["operation"] = name
            await self.control("POST", "/faults", spec)

    async def _add_foreign_fault(self, operation: str, **options: Any) -> None:
        raise NotImplementedError(f"{self.name} has no foreign_change fault")

    async def clear_faults(self) -> None:
        await self.control("DELETE", "/faults")

    async def release_held(self) -> None:
        await self.control("POST", "/release")

    async def held(self) -> int:
        return (await self.state())["held"]

    async def wait_held(self, count: int = 1, timeout: float = 5.0) -> None:
        """Until `count` calls are parked by a hold fault (polled, never a fixed sleep)."""
        deadline = time.monotonic() + timeout
        while await self.held() < count:
            assert time.monotonic() < deadline, f"{self.name}: no call held within {timeout} s"
            await asyncio.sleep(0.01)

    async def faults_fired(self) -> dict[str, int]:
        return dict((await self.state()).get("faults_fired", {}))

    async def calls(self, operation: str) -> int:
        calls = (await self.state())["calls"]
        return sum(calls.get(name, 0) for name in dict.fromkeys(self.operations(operation)) if name)

    async def make_known_card(self, code: str, amount: Any, currency: str = "USD",
                              expires_on: str | None = None) -> str:
        card_id = await self.make_card(code, amount, currency, expires_on)
        await self.register(code, card_id)
        return card_id

    async def register(self, code: str, card_id: str) -> None:
        """Known to the adapter as an operator makes it known: `cards import` of the vendor's
        export, a one-row CSV, through the command's own import_file (a no-op where the
        adapter finds cards by code itself)."""
        if self.lookup_by_code:
            return
        assert self.db is not None, "register() needs the test's database"
        import tempfile
        from pathlib import Path

        from adapter import cardimport
        from adapter.crypto import CodeVault
        from adapter.domain.cardnumbers import CardNumberReader
        from adapter.store import cardimport as staged
        from tests.conftest import CARD_CODE_KEY

        currency = (await self.card(card_id))["currency"]
        with tempfile.TemporaryDirectory(prefix="gca-import-") as folder:
            path = Path(folder) / "export.csv"
            path.write_text(f"code,id,currency\n{code},{card_id},{currency}\n")
            with cardimport.CsvFile(path) as export:
                async with self.db.acquire() as conn:
                    try:
                        report = await cardimport.import_file(conn, CodeVault(CARD_CODE_KEY), CardNumberReader(),
                                                              export, ledger=self.name)
                    finally:
                        await staged.drop_stage(conn)
        assert report.exit_status == 0 and report.count(staged.IMPORTED) == 1, report

    async def assert_consistent(self) -> None:
        for card in await self.cards():
            moved = sum((t["amount"] for t in card["transactions"]), Decimal(0))
            assert card["balance"] == card["initial_value"] + moved, card

    # ---- ledger-specific --------------------------------------------------------------------

    @property
    def control_url(self) -> str:
        raise NotImplementedError

    async def make_card(self, code: str, amount: Any, currency: str = "USD", expires_on: str | None = None) -> str:
        raise NotImplementedError

    async def cards(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def foreign_change(self, card_id: str, delta: Any) -> Decimal | None:
        raise NotImplementedError


class ShopifyStandin(Standin):
    """The Shopify sandbox (giftcard_emulators.shopify), control routes under /sandbox."""

    name, absolute, lookup_by_code, notes = "shopify", False, True, True

    def __init__(self, running=None, db=None) -> None:
        super().__init__(db)
        self.running = running  # a sandbox started elsewhere (the `sandbox` fixture), else our own
        self._own = running is None

    async def _start(self) -> None:
        if self.running is None:
            from giftcard_emulators.shopify.server import start_sandbox

            self.running = await start_sandbox("127.0.0.1", 0)

    async def _close(self) -> None:
        if self._own and self.running is not None:
            await self.running.close()

    @property
    def control_url(self) -> str:
        return f"{self.running.base_url}/sandbox"

    def settings_overrides(self) -> dict[str, Any]:
        return {"shopify_graphql_url": self.running.graphql_url,
                "shopify_access_token": SecretStr(self.running.config.access_token)}

    async def make_card(self, code: str, amount: Any, currency: str = "USD", expires_on: str | None = None) -> str:
        made = await self.control("POST", "/cards", {"code": code, "amount": _money(amount), "currency": currency,
                                                     "expires_on": expires_on})
        return made["id"]

    async def cards(self) -> list[dict[str, Any]]:
        return [{
            "id": c["id"], "code": c["code"], "currency": c["currencyCode"], "balance": _decimal(c["balance"]),
            "initial_value": _decimal(c["initialValue"]), "enabled": c["enabled"], "expires_on": c["expiresOn"],
            "note": c["note"],
            "transactions": [{"id": t["id"], "amount": _decimal(t["amount"]), "note": t["note"],
                              "ours": (t["note"] or "").startswith("gca:")} for t in c["transactions"]],
        } for c in (await self.state())["cards"]]

    async def foreign_change(self, card_id: str, delta: Any) -> Decimal | None:
        """A debit or credit as a web-shop checkout (or refund) makes it: the sandbox's own
        transaction, with every check its giftCardDebit / giftCardCredit resolver makes, but
        past the fault switches, which are armed for the adapter's calls (the sandbox runs in
        this process; synchronous, so atomic against its API)."""
        from giftcard_emulators.shopify.app import SANDBOX_STATE

        amount = Decimal(str(delta))
        state = self.running.app[SANDBOX_STATE]
        card = state.card_by_gid(card_id)
        made, refused = state.post_transaction(card_id, credit=amount > 0, amount=abs(amount),
                                               currency=card.currency, note=None, processed_at=None)
        return None if refused is not None else made.amount


class Shopify2025Standin(ShopifyStandin):
    """The same sandbox, asked (and answering) in API version 2025-01: the oldest schema it ships,
    where the gift-card transactions have no giftCard (issue #13). The adapter sends 2025-01."""

    API_VERSION = "2025-01"
    label = f"shopify-{API_VERSION}"

    def settings_overrides(self) -> dict[str, Any]:
        from giftcard_emulators.shopify.server import DEFAULT_API_VERSION

        url = self.running.graphql_url.replace(f"/{DEFAULT_API_VERSION}/", f"/{self.API_VERSION}/")
        return {**super().settings_overrides(), "shopify_graphql_url": url, "shopify_api_version": self.API_VERSION}


class ShoplineStandin(Standin):
    """The SHOPLINE emulator (giftcard_emulators.shopline), control routes under /_emulator."""

    name, absolute, lookup_by_code, notes = "shopline", True, True, False
    APP_SECRET = "shopline-test-app-secret-0123456789abcdef"

    async def _start(self) -> None:
        from giftcard_emulators.shopline.config import ShoplineConfig
        from giftcard_emulators.shopline.server import start_shopline

        # SHOPLINE allows 4 requests/s (burst 40) per app and store; the tests' traffic is not
        # about that limit (tests/emulators/shopline and the client's own tests are), so the
        # emulated store lets it through.
        self.running = await start_shopline("127.0.0.1", 0, ShoplineConfig(bucket_size=100_000, leak_rate=100_000))

    async def _close(self) -> None:
        self.running.emulator.faults.release(proceed=False)
        await self.running.close()

    @property
    def control_url(self) -> str:
        return self.running.control_url

    def settings_overrides(self) -> dict[str, Any]:
        return {"ledger": "shopline", "shopline_base_url": self.running.api_url + "/",
                "shopline_access_token": SecretStr(self.running.config.access_token),
                "shopline_app_secret": SecretStr(self.APP_SECRET), "ledger_currency": "USD"}

    async def make_card(self, code: str, amount: Any, currency: str = "USD", expires_on: str | None = None) -> str:
        made = await self.control("POST", "/cards", {"code": code, "balance": _money(amount),
                                                     "initial_value": _money(amount), "currency": currency,
                                                     "expires_on": expires_on})
        return made["id"]

    async def cards(self) -> list[dict[str, Any]]:
        state = await self.state()
        records: dict[str, list[dict[str, Any]]] = {}
        for record in state["operation_records"]:
            records.setdefault(record["gift_card_id"], []).append(record)
        return [{
            "id": c["id"], "code": c["code"], "currency": c["currency"], "balance": _decimal(c["balance"]),
            "initial_value": _decimal(c["initial_value"]), "enabled": c["enabled"], "expires_on": c["expires_on"],
            "note": c["note"],
            "transactions": [{"id": r["id"], "amount": _decimal(r["change_amount"]), "note": None,
                              "ours": r["source"] == "api", "kind": r["operation_type"]}
                             for r in records.get(c["id"], [])],
        } for c in state["cards"]]

    async def _add_foreign_fault(self, operation: str, *, delta: Any, card_id: str | None = None,
                                 **options: Any) -> None:
        [name] = self.operations(operation)
        await self.control("POST", "/faults", {"kind": "foreign_change", "operation": name, "card_id": card_id,
                                               "delta": _money(delta), **options})

    async def foreign_change(self, card_id: str, delta: Any) -> Decimal | None:
        card = await self.card(card_id)
        amount = Decimal(str(delta))
        if not card["enabled"] or card["balance"] + amount < 0:
            return None  # SHOPLINE's checkout would refuse it too
        await self.control("POST", f"/cards/{card_id}/changes", {"delta": _money(amount)})
        return amount


class GiftHeroStandin(Standin):
    """The Gift Card Hero emulator (giftcard_emulators.gifthero), control routes under /_emulator."""

    name, absolute, lookup_by_code, notes = "gifthero", True, False, False

    async def _start(self) -> None:
        from giftcard_emulators.gifthero.app import GiftHeroConfig
        from giftcard_emulators.gifthero.server import start_gifthero

        self.running = await start_gifthero("127.0.0.1", 0, GiftHeroConfig(currency="USD"))

    async def _close(self) -> None:
        self.running.emulator.faults.release(proceed=False)
        await self.running.close()

    @property
    def control_url(self) -> str:
        return self.running.base_url + "/_emulator"

    def settings_overrides(self) -> dict[str, Any]:
        return {"ledger": "gifthero", "gifthero_base_url": self.running.api_url,
                "gifthero_access_token": SecretStr(self.running.config.access_token), "ledger_currency": "USD"}

    async def make_card(self, code: str, amount: Any, currency: str = "USD", expires_on: str | None = None) -> str:
        made = await self.control("POST", "/cards", {
            "code": code, "balance": _money(amount), "initial_value": _money(amount), "currency": currency,
            "expires_on": expires_on, "source": "purchased"})
        return str(made["id"])

    async def cards(self) -> list[dict[str, Any]]:
        from giftcard_emulators.gifthero.model import API_CLIENT_ID

        return [{
            "id": str(c["id"]), "code": c["code"], "currency": c["currency"], "balance": _decimal(c["balance"]),
            "initial_value": _decimal(c["initial_value"]), "enabled": c["disabled_at"] is None,
            "expires_on": c["expires_on"], "note": c["note"],
            "transactions": [{"id": str(t["id"]), "amount": _decimal(t["amount"]), "note": t["note"],
                              "ours": t["api_client_id"] == API_CLIENT_ID}
                             for t in c["transactions"] if t["note"] != "Initial gift card creation"],
        } for c in (await self.state())["cards"]]

    async def _add_foreign_fault(self, operation: str, *, delta: Any, card_id: str | None = None,
                                 **options: Any) -> None:
        # Without a card (only on the card read): the card the next read is about.
        [name] = self.operations(operation)
        await self.control("POST", "/faults", {"kind": "foreign_change", "operation": name,
                                               "card_id": None if card_id is None else int(card_id),
                                               "delta": _money(delta), **options})

    async def foreign_change(self, card_id: str, delta: Any) -> Decimal | None:
        # The emulator has no control route for a change made now; its foreign_change fault
        # does exactly this, right after a read. The emulator runs in this process: the same
        # move, made directly (synchronous, so atomic against its API).
        ledger = self.running.emulator.ledger
        card = ledger.cards[int(card_id)]
        amount = Decimal(str(delta))
        if card.disabled_at is not None or card.balance + amount < 0:
            return None
        made = ledger.move(card, amount)
        return None if made is None else made.amount


STANDINS = {"shopify": ShopifyStandin, "shopify-2025-01": Shopify2025Standin, "shopline": ShoplineStandin,
            "gifthero": GiftHeroStandin}
