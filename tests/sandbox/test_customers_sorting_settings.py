"""Issue #13, the sandbox as a faithful stand-in: customers (and cards pointing at them), every
GiftCardSortKeys value with stable cursors, and the shop's currency and limits set by flags or
/sandbox/config. Real HTTP, exact strings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from giftcard_emulators.shopify.resolvers import SORT_KEYS
from tests.sandbox.conftest import CREATE, DEACTIVATE, UPDATE, sandbox_process

CUSTOMER_FIELDS = "id email phone firstName lastName displayName createdAt updatedAt"

CUSTOMER_CREATE = f"""mutation NewCustomer($input: CustomerInput!) {{
  customerCreate(input: $input) {{
    customer {{ {CUSTOMER_FIELDS} }}
    userErrors {{ field message }}
  }}
}}"""

CUSTOMER_READ = f"query Customer($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}"

CUSTOMERS = """query Customers($q: String, $first: Int, $after: String, $last: Int, $before: String,
                        $sort: CustomerSortKeys, $r: Boolean) {
  customers(first: $first, after: $after, last: $last, before: $before, query: $q, sortKey: $sort, reverse: $r) {
    nodes { id email }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

CUSTOMER_DELETE = """mutation DeleteCustomer($input: CustomerDeleteInput!) {
  customerDelete(input: $input) { deletedCustomerId shop { id } userErrors { field message } }
}"""

CARD_PEOPLE = """query CardPeople($id: ID!) {
  giftCard(id: $id) {
    customer { id email displayName }
    recipientAttributes { recipient { id } preferredName message sendNotificationAt }
  }
}"""

CONFIGURATION = """{ giftCardConfiguration { issueLimit { amount currencyCode }
                                         purchaseLimit { amount currencyCode } } }"""

LEGACY_CREATE = """mutation Legacy($value: Decimal!) {
  giftCardCreate(input: {initialValue: $value}) {
    giftCard { initialValue { amount currencyCode } balance { amount currencyCode } }
    userErrors { field code message }
  }
}"""

IDENTITY = "Customer must have a name, phone number or email address"


async def new_customer(shop, **fields: Any) -> dict[str, Any]:
    return (await shop.gql(CUSTOMER_CREATE, {"input": fields}))["data"]["customerCreate"]


async def customer_id(shop, **fields: Any) -> str:
    made = await new_customer(shop, **fields)
    assert made["userErrors"] == [], made
    return made["customer"]["id"]


# -- customers -----------------------------------------------------------------------------------

async def test_customer_create_normalises_and_reads_back(shop):
    made = await new_customer(shop, email="Ada@Example.com", phone="+1 (613) 555-0123",
                              firstName="Ada", lastName="Lovelace")
    expected = {"id": "gid://shopify/Customer/1001", "email": "ada@example.com", "phone": "+16135550123",
                "firstName": "Ada", "lastName": "Lovelace", "displayName": "Ada Lovelace",
                "createdAt": "2026-11-20T15:13:22Z", "updatedAt": "2026-11-20T15:13:22Z"}
    assert made == {"customer": expected, "userErrors": []}
    assert (await shop.gql(CUSTOMER_READ, {"id": expected["id"]}))["data"]["customer"] == expected
    missing = await shop.gql(CUSTOMER_READ, {"id": "gid://shopify/Customer/999"})
    assert missing["data"] == {"customer": None} and "errors" not in missing


@pytest.mark.parametrize(("fields", "display"), [
    ({"firstName": "Grace"}, "Grace"),
    ({"lastName": "Hopper", "email": "grace@example.com"}, "Hopper"),
    ({"email": "grace@example.com", "phone": "6135550199"}, "grace@example.com"),
    ({"phone": "613-555-0199"}, "+16135550199"),
])
async def test_display_name_is_the_name_else_the_email_else_the_phone(shop, fields, display):
    assert (await new_customer(shop, **fields))["customer"]["displayName"] == display


@pytest.mark.parametrize(("fields", "errors"), [
    ({"email": "not-an-email"}, [{"field": ["email"], "message": "Email is invalid"}]),
    ({"email": "ada@localhost"}, [{"field": ["email"], "message": "Email is invalid"}]),
    ({"email": "ada lovelace@example.com"}, [{"field": ["email"], "message": "Email is invalid"}]),
    ({"phone": "12345"}, [{"field": ["phone"], "message": "Phone is invalid"}]),
    ({"phone": "+1234567890123456"}, [{"field": ["phone"], "message": "Phone is invalid"}]),
    ({"phone": "call me"}, [{"field": ["phone"], "message": "Phone is invalid"}]),
    ({"email": "bad", "phone": "bad", "firstName": "Ada"},
     [{"field": ["email"], "message": "Email is invalid"}, {"field": ["phone"], "message": "Phone is invalid"}]),
    ({}, [{"field": None, "message": IDENTITY}]),
    ({"firstName": "  ", "email": "", "note": "a note is not a name"}, [{"field": None, "message": IDENTITY}]),
])
async def test_customer_create_validation(shop, fields, errors):
    assert await new_customer(shop, **fields) == {"customer": None, "userErrors": errors}
    assert (await shop.state())["customers"] == []


async def test_email_and_phone_are_unique_whatever_their_case_or_format(shop):
    await customer_id(shop, email="ada@example.com", phone="+16135550123")
    again = await new_customer(shop, email="ADA@example.COM", phone="(613) 555-0123")
    assert again == {"customer": None, "userErrors": [
        {"field": ["email"], "message": "Email has already been taken"},
        {"field": ["phone"], "message": "Phone has already been taken"}]}
    assert len((await shop.state())["customers"]) == 1


async def test_customer_user_errors_are_plain_user_errors_without_code(shop):
    """customerCreate's payload lists UserError (field, message): asking for a code is refused."""
    body = await shop.gql("""mutation { customerCreate(input: {email: "x"}) {
        userErrors { field code message } } }""")
    assert body["errors"][0]["message"] == "Field 'code' doesn't exist on type 'UserError'"
    assert "data" not in body


async def test_customers_email_filter_is_exact_and_ignores_case_with_relay_paging(shop):
    ada = await customer_id(shop, email="ada@example.com")
    await customer_id(shop, email="ada@example.org")
    grace = await customer_id(shop, email="grace@example.com")
    await customer_id(shop, firstName="No Email")

    async def search(q: str | None, **variables: Any) -> dict[str, Any]:
        variables.setdefault("first", 10)
        return (await shop.gql(CUSTOMERS, {"q": q, **variables}))["data"]["customers"]

    found = await search("email:ADA@Example.com")
    assert found["nodes"] == [{"id": ada, "email": "ada@example.com"}]
    assert (await search('email:"ada@example.com"'))["nodes"] == found["nodes"]
    assert (await search("email:da@example.com"))["nodes"] == []
    # The schema's own example: an unquoted domain is one of an email's tokens.
    assert [n["id"] for n in (await search("email:example.com"))["nodes"]] == [ada, grace]
    assert len((await search("email:*"))["nodes"]) == 3

    first = await search("email:example.com", first=1)
    assert first["nodes"] == [{"id": ada, "email": "ada@example.com"}]
    assert first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["hasPreviousPage"] is False
    second = await search("email:example.com", first=1, after=first["pageInfo"]["endCursor"])
    assert second["nodes"] == [{"id": grace, "email": "grace@example.com"}]
    assert second["pageInfo"]["hasNextPage"] is False and second["pageInfo"]["hasPreviousPage"] is True
    newest = await search("email:example.com", first=1, r=True)
    assert newest["nodes"] == second["nodes"]
    back = await search("email:example.com", last=1, before=second["pageInfo"]["startCursor"])
    assert back["nodes"] == first["nodes"]


async def test_customer_delete_and_a_missing_customer(shop):
    ada = await customer_id(shop, email="ada@example.com")
    deleted = (await shop.gql(CUSTOMER_DELETE, {"input": {"id": ada}}))["data"]["customerDelete"]
    assert deleted == {"deletedCustomerId": ada, "shop": {"id": "gid://shopify/Shop/1"}, "userErrors": []}
    assert (await shop.gql(CUSTOMER_READ, {"id": ada}))["data"]["customer"] is None
    again = (await shop.gql(CUSTOMER_DELETE, {"input": {"id": ada}}))["data"]["customerDelete"]
    assert again == {"deletedCustomerId": None, "shop": {"id": "gid://shopify/Shop/1"},
                     "userErrors": [{"field": ["id"], "message": "Customer can't be found"}]}
    # The email is free again.
    assert (await new_customer(shop, email="ada@example.com"))["userErrors"] == []


async def test_seeded_customers_are_customers(shop):
    seeded = await shop.control("POST", "/sandbox/customers",
                                {"email": "Seed@Example.com", "first_name": "Seed"}, expect=201)
    assert seeded == {"id": "gid://shopify/Customer/1001"}
    read = (await shop.gql(CUSTOMER_READ, {"id": seeded["id"]}))["data"]["customer"]
    assert read["email"] == "seed@example.com" and read["displayName"] == "Seed"
    taken = await new_customer(shop, email="seed@example.com")
    assert taken["userErrors"] == [{"field": ["email"], "message": "Email has already been taken"}]
    refused = await shop.control("POST", "/sandbox/customers", {"phone": "123"}, expect=400)
    assert refused == {"error": "Phone is invalid"}


# -- cards point at customers --------------------------------------------------------------------

def invalid_id(value: str, mutation: str) -> list[dict[str, Any]]:
    """graphql-ruby's refusal of an id argument naming nothing: on the mutation's path."""
    return [{"message": f"Invalid id: {value}", "locations": [{"line": 3, "column": 3}],
             "path": [mutation], "extensions": {"code": "RESOURCE_NOT_FOUND"}}]


@pytest.mark.parametrize("fields", [
    {"customerId": "gid://shopify/Customer/4242"},
    {"recipientAttributes": {"id": "gid://shopify/Customer/4242", "message": "Happy birthday"}},
])
async def test_create_with_an_unknown_customer_is_a_top_level_error(shop, fields):
    payload = {"initialAmount": {"amount": "10.00", "currencyCode": "USD"}, "code": "abc", **fields}
    body = await shop.gql(CREATE, {"input": payload})
    # Refused before anything else: the code "abc" would have been a userError.
    assert body["errors"] == invalid_id("gid://shopify/Customer/4242", "giftCardCreate")
    assert body["data"] == {"giftCardCreate": None}
    assert (await shop.state())["cards"] == []


async def test_update_with_an_unknown_customer_is_a_top_level_error(shop):
    card = await shop.card("10.00")
    for fields in ({"customerId": "gid://shopify/Customer/7"}, {"recipientAttributes": {"id": "gid://shopify/Customer/7"}},
                   {"customerId": "gid://shopify/GiftCard/1"}):
        body = await shop.gql(UPDATE, {"id": card, "input": {"note": "changed", **fields}})
        value = fields.get("customerId") or "gid://shopify/Customer/7"
        assert body["errors"] == invalid_id(value, "giftCardUpdate")
        assert body["data"] == {"giftCardUpdate": None}
    assert (await shop.state_card(card))["note"] is None


async def test_card_customer_and_recipient_resolve_to_customers(shop):
    buyer = await customer_id(shop, email="buyer@example.com", firstName="Bea")
    friend = await customer_id(shop, email="friend@example.com")
    card = await shop.card("25.00", customerId=buyer, recipientAttributes={
        "id": friend, "preferredName": "Fred", "message": "Enjoy", "sendNotificationAt": "2026-12-24T09:00:00Z"})
    people = (await shop.gql(CARD_PEOPLE, {"id": card}))["data"]["giftCard"]
    assert people == {
        "customer": {"id": buyer, "email": "buyer@example.com", "displayName": "Bea"},
        "recipientAttributes": {"recipient": {"id": friend}, "preferredName": "Fred", "message": "Enjoy",
                                "sendNotificationAt": "2026-12-24T09:00:00Z"}}
    other = await customer_id(shop, firstName="Other")
    updated = await shop.gql(UPDATE, {"id": await shop.card("5.00"), "input": {"customerId": other}})
    assert updated["data"]["giftCardUpdate"]["userErrors"] == []
    found = await shop.gql('query($q: String) { giftCards(first: 5, query: $q) { nodes { id } } }',
                           {"q": f"recipient_id:{friend.rsplit('/', 1)[1]}"})
    assert found["data"]["giftCards"]["nodes"] == [{"id": card}]


async def test_only_recipient_attributes_ask_shopify_to_notify(shop):
    """GiftCardCreateInput has no notify flag: Shopify sends a card to someone only for
    recipientAttributes (or a giftCardSendNotificationTo* call). /sandbox/state shows whether
    anyone asked, so an adapter test can assert it never does."""
    buyer = await customer_id(shop, email="buyer@example.com")
    quiet = await shop.card("10.00", customerId=buyer)
    loud = await shop.card("10.00", recipientAttributes={"id": buyer})
    assert (await shop.state_card(quiet))["notify"] is False
    assert (await shop.state_card(loud))["notify"] is True
    assert (await shop.state_card(loud))["recipientId"] == buyer
    sent = await shop.gql("mutation($id: ID!) { giftCardSendNotificationToCustomer(id: $id) { userErrors { message } } }",
                          {"id": quiet})
    assert sent["data"]["giftCardSendNotificationToCustomer"]["userErrors"] == []
    assert (await shop.state_card(quiet))["notify"] is True


# -- sorting -------------------------------------------------------------------------------------

SORT = """query Sorted($sort: GiftCardSortKeys, $r: Boolean, $first: Int, $after: String, $last: Int,
                     $before: String) {
  giftCards(first: $first, after: $after, last: $last, before: $before, sortKey: $sort, reverse: $r) {
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

# Ascending orders of the `deck` below (by its names). Ties are broken by id.
ORDERS = {
    "ID": ["k1", "k2", "k3", "k4", "k5", "k6"],
    "CREATED_AT": ["k1", "k2", "k3", "k4", "k5", "k6"],
    "UPDATED_AT": ["k4", "k5", "k6", "k3", "k1", "k2"],
    "DISABLED_AT": ["k2", "k4", "k5", "k6", "k3", "k1"],  # never deactivated first, by id
    "BALANCE": ["k2", "k6", "k3", "k4", "k1", "k5"],
    "INITIAL_VALUE": ["k4", "k6", "k2", "k3", "k1", "k5"],
    "AMOUNT_SPENT": ["k4", "k3", "k6", "k1", "k5", "k2"],
    "EXPIRES_ON": ["k2", "k4", "k6", "k3", "k5", "k1"],  # never expiring first, by id
    "CODE": ["k4", "k2", "k5", "k6", "k1", "k3"],
    "CUSTOMER_NAME": ["k2", "k5", "k4", "k3", "k6", "k1"],  # no customer first, then displayName
}


@pytest.fixture
async def deck(shop) -> dict[str, str]:
    """Six cards, a minute apart, with ties on every key but ID, CREATED_AT and UPDATED_AT."""
    zoe = await customer_id(shop, firstName="zoe", lastName="Adams")
    bob = await customer_id(shop, firstName="Bob")
    anna = await customer_id(shop, email="anna@example.com")
    specs = {
        "k1": ("50.00", {"code": "mmmm00001", "customerId": zoe, "expiresOn": "2031-01-01"}),
        "k2": ("20.00", {"code": "bbbb00002"}),
        "k3": ("20.00", {"code": "zzzz00003", "customerId": bob, "expiresOn": "2030-01-01"}),
        "k4": ("5.00", {"code": "aaaa00004", "customerId": anna}),
        "k5": ("50.00", {"code": "cccc00005", "expiresOn": "2030-01-01"}),
        "k6": ("10.00", {"code": "dddd00006", "customerId": bob}),
    }
    cards = {}
    for name, (amount, fields) in specs.items():
        cards[name] = await shop.card(amount, **fields)
        shop.clock.advance(minutes=1)
    await shop.debit(cards["k1"], "10.00")
    await shop.debit(cards["k2"], "20.00")
    await shop.credit(cards["k4"], "30.00")
    await shop.debit(cards["k5"], "10.00")
    await shop.gql(DEACTIVATE, {"id": cards["k3"]})
    await shop.gql(DEACTIVATE, {"id": cards["k1"]})
    await shop.gql(UPDATE, {"id": cards["k2"], "input": {"note": "touched last"}})
    return cards


async def sorted_page(shop, sort: str, reverse: bool, **variables: Any) -> dict[str, Any]:
    body = await shop.gql(SORT, {"sort": sort, "r": reverse, **variables})
    return body["data"]["giftCards"]


async def walk(shop, sort: str, reverse: bool, size: int, *, backward: bool) -> list[str]:
    """Every card, page by page: forward with first/after, or backward with last/before."""
    seen: list[str] = []
    cursor = None
    while True:
        if backward:
            page = await sorted_page(shop, sort, reverse, last=size, before=cursor)
            seen = [n["id"] for n in page["nodes"]] + seen
            if not page["pageInfo"]["hasPreviousPage"]:
                return seen
            cursor = page["pageInfo"]["startCursor"]
        else:
            page = await sorted_page(shop, sort, reverse, first=size, after=cursor)
            seen += [n["id"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                return seen
            cursor = page["pageInfo"]["endCursor"]


async def test_the_sandbox_knows_every_sort_key_of_the_schema(shop):
    body = await shop.gql('{ __type(name: "GiftCardSortKeys") { enumValues { name } } }')
    names = {value["name"] for value in body["data"]["__type"]["enumValues"]}
    assert names == set(SORT_KEYS) == set(ORDERS)


@pytest.mark.parametrize("sort", sorted(ORDERS))
@pytest.mark.parametrize("reverse", [False, True])
async def test_sort_key_orders_and_breaks_ties_by_id(shop, deck, sort, reverse):
    expected = [deck[name] for name in ORDERS[sort]]
    if reverse:
        expected.reverse()
    assert [n["id"] for n in (await sorted_page(shop, sort, reverse, first=10))["nodes"]] == expected
    for size in (1, 2):
        assert await walk(shop, sort, reverse, size, backward=False) == expected
        assert await walk(shop, sort, reverse, size, backward=True) == expected


async def test_disabled_at_never_deactivated_are_smallest_and_page_without_loss(shop):
    """Several never-deactivated cards tie on DISABLED_AT: the id orders them and keeps cursors
    stable, at page sizes 1 and 2, both sort directions, paging forward and backward."""
    cards = [await shop.card("10.00") for _ in range(5)]
    await shop.gql(DEACTIVATE, {"id": cards[3]})
    await shop.gql(DEACTIVATE, {"id": cards[1]})
    ascending = [cards[0], cards[2], cards[4], cards[3], cards[1]]
    for reverse, expected in ((False, ascending), (True, ascending[::-1])):
        for size in (1, 2):
            for backward in (False, True):
                seen = await walk(shop, "DISABLED_AT", reverse, size, backward=backward)
                assert seen == expected, (reverse, size, backward)


async def test_customer_name_reads_the_cards_current_customer(shop):
    """CUSTOMER_NAME reads the customer, not a copy on the card: a card given a customer moves."""
    bob = await customer_id(shop, firstName="Bob")
    plain, owned = await shop.card("1.00"), await shop.card("1.00", customerId=bob)
    assert [n["id"] for n in (await sorted_page(shop, "CUSTOMER_NAME", False, first=5))["nodes"]] == [plain, owned]
    zed = await customer_id(shop, firstName="Zed")
    await shop.gql(UPDATE, {"id": plain, "input": {"customerId": zed}})
    assert [n["id"] for n in (await sorted_page(shop, "CUSTOMER_NAME", False, first=5))["nodes"]] == [owned, plain]


# -- shop settings -------------------------------------------------------------------------------

async def test_default_settings(shop):
    body = await shop.gql(CONFIGURATION)
    assert body["data"]["giftCardConfiguration"] == {
        "issueLimit": {"amount": "3000.0", "currencyCode": "USD"},
        "purchaseLimit": {"amount": "3000.0", "currencyCode": "USD"}}


async def test_config_endpoint_sets_currency_and_limits(shop):
    before = await shop.card("10.00")
    config = await shop.control("POST", "/sandbox/config",
                                {"currency": "GBP", "issue_limit": "1000", "purchase_limit": "400.50"})
    assert (config["currency"], config["issue_limit"], config["purchase_limit"]) == ("GBP", "1000", "400.50")
    body = await shop.gql(CONFIGURATION)
    assert body["data"]["giftCardConfiguration"] == {
        "issueLimit": {"amount": "1000.0", "currencyCode": "GBP"},
        "purchaseLimit": {"amount": "400.5", "currencyCode": "GBP"}}
    made = (await shop.gql(LEGACY_CREATE, {"value": "12.50"}))["data"]["giftCardCreate"]
    assert made == {"giftCard": {"initialValue": {"amount": "12.5", "currencyCode": "GBP"},
                                 "balance": {"amount": "12.5", "currencyCode": "GBP"}}, "userErrors": []}
    over = (await shop.gql(LEGACY_CREATE, {"value": "1000.01"}))["data"]["giftCardCreate"]
    assert over == {"giftCard": None, "userErrors": [{"field": ["input", "initialValue"],
                                                      "code": "GIFT_CARD_LIMIT_EXCEEDED",
                                                      "message": "can't exceed £1,000.00 GBP"}]}
    spent = await shop.gql("query($id: ID!) { customer(id: $id) { amountSpent { amount currencyCode } } }",
                           {"id": await customer_id(shop, firstName="Ada")})
    assert spent["data"]["customer"]["amountSpent"] == {"amount": "0.0", "currencyCode": "GBP"}
    # A card keeps the currency it was issued in.
    assert (await shop.read(before))["balance"] == {"amount": "10.0", "currencyCode": "USD"}


@pytest.mark.parametrize(("body", "error"), [
    ({"issue_limit": "0"}, "issue_limit must be positive"),
    ({"purchase_limit": "-1"}, "purchase_limit must be positive"),
    ({"issue_limit": "lots"}, "issue_limit must be a finite decimal string"),
    ({"issue_limit": "500", "currency": "usd"}, "currency must be an ISO-4217 code"),
])
async def test_config_endpoint_refuses_bad_settings_and_changes_nothing(shop, body, error):
    assert await shop.control("POST", "/sandbox/config", body, expect=400) == {"error": error}
    assert (await shop.state())["config"]["issue_limit"] == "3000"


async def _ask_process(command: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a sandbox process, read its configuration and try a create far above any limit."""
    async with sandbox_process(*command) as (session, url):
        async with session.post(url, json={"query": CONFIGURATION}) as response:
            configuration = (await response.json())["data"]["giftCardConfiguration"]
        create = {"query": LEGACY_CREATE, "variables": {"value": "1000000"}}
        async with session.post(url, json=create) as response:
            created = (await response.json())["data"]["giftCardCreate"]
    return configuration, created


async def test_command_line_flags_set_the_shop():
    adapter_cli, emulator_cli = await asyncio.gather(
        _ask_process(["adapter", "sandbox", "--currency", "EUR", "--issue-limit", "500",
                      "--purchase-limit", "250"]),
        _ask_process(["giftcard_emulators.shopify", "--currency", "JPY", "--issue-limit", "100000"]))
    assert adapter_cli == (
        {"issueLimit": {"amount": "500.0", "currencyCode": "EUR"},
         "purchaseLimit": {"amount": "250.0", "currencyCode": "EUR"}},
        {"giftCard": None, "userErrors": [{"field": ["input", "initialValue"], "code": "GIFT_CARD_LIMIT_EXCEEDED",
                                           "message": "can't exceed €500.00 EUR"}]})
    assert emulator_cli == (
        {"issueLimit": {"amount": "100000.0", "currencyCode": "JPY"},
         "purchaseLimit": {"amount": "3000.0", "currencyCode": "JPY"}},
        {"giftCard": None, "userErrors": [{"field": ["input", "initialValue"], "code": "GIFT_CARD_LIMIT_EXCEEDED",
                                           "message": "can't exceed ¥100,000 JPY"}]})


@pytest.mark.parametrize(("command", "error"), [
    (["adapter", "sandbox", "--issue-limit", "0"], "giftcard-adapter sandbox: error: issue_limit must be positive"),
    (["giftcard_emulators.shopify", "--currency", "usd"],
     "python -m giftcard_emulators.shopify: error: currency must be an ISO-4217 code"),
])
def test_bad_flags_stop_the_process(command, error):
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == error
