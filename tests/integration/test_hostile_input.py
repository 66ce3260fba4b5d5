"""Hostile input never moves money and never answers 500 (issue #10, "what bad input broke").

Every refusal is a 400 in NewStore's error shape naming the field, and afterwards the ledger and
every table are exactly as before. The bounds on free-form fields are tested at the boundary:
the largest accepted metadata moves money and is answered (directly and by the reconciler),
one step past it moves nothing.
"""

import json
from decimal import Decimal

import pytest

from adapter.http import bounds
from tests import ledger_view
from tests.conftest import AUTH
from tests.integration.test_payments import authorize_body, call, new_card, psp
from tests.integration.test_reconciler import workers

CARD = "hostilecard00001"
TABLES = ("idempotency_keys", "ledger_writes", "cards", "instruments", "audit_log")


async def snapshot(sandbox, db):
    async with db.acquire() as conn:
        counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
        instruments = [dict(r) for r in await conn.fetch("SELECT * FROM instruments ORDER BY id")]
    return counts, instruments, await ledger_view.cards(sandbox)


async def post_raw(adapter, path, raw: bytes):
    response = await adapter.post(path, data=raw, headers={**AUTH, "Content-Type": "application/json"})
    return response.status, await response.json()


@pytest.fixture
async def instrument(adapter, sandbox):
    """A card with an authorized and captured instrument, for the PSP calls to aim at."""
    await new_card(sandbox, CARD, "100.00")
    status, body, _ = await call(adapter, "/financial_instruments", authorize_body(CARD, 30, "hostile-auth"))
    assert status == 200
    instrument_id = body[0]["instrument_id"]
    assert (await call(adapter, f"/financial_instruments/{instrument_id}/_capture", psp(20, "hostile-cap")))[0] == 200
    return instrument_id


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def body_text(path: str, instrument_id: str, *, key='"hostile-key"', metadata='{"order_id": "1"}',
              number=f'"{CARD}"', customer_id='"c-1"', correlation='"corr-1"', extra="") -> str:
    """One request body for `path`, with any part replaced by raw JSON text."""
    if path == "/gift_card/activate":
        text = (f'{{"card_number": {number}, "amount": {{"value": 10, "currency": "USD"}}, '
                f'"customer": {{"id": {customer_id}}}, "metadata": {metadata}, "idempotence_key": {key}')
    elif path == "/gift_card/issue":
        text = (f'{{"amount": {{"value": 10, "currency": "USD"}}, "customer": {{"id": {customer_id}}}, '
                f'"metadata": {metadata}, "idempotence_key": {key}, "correlation_id": {correlation}')
    elif path == "/gift_card/deactivate":
        text = f'{{"card_number": {number}, "idempotence_key": {key}'
    elif path == "/gift_card/balance":
        text = f'{{"identifier": {{"number": {number}}}, "metadata": {metadata}'
    elif path == "/financial_instruments":
        text = (f'{{"account_id": "acct", "idempotency_key": {key}, "arguments": {{"amount": 5, "currency": "USD", '
                f'"payment_method": "gift_card"}}, "metadata": {{"number": {number}, "m": {metadata}}}')
    else:
        text = (f'{{"account_id": "acct", "idempotency_key": {key}, "arguments": {{"amount": 5, "currency": "USD"}}, '
                f'"metadata": {metadata}')
    return text + extra + "}"


PATHS = ["/gift_card/activate", "/gift_card/issue", "/gift_card/deactivate", "/gift_card/balance",
         "/financial_instruments", "/financial_instruments/{i}/_capture", "/financial_instruments/{i}/_refund",
         "/financial_instruments/{i}/_revoke"]
KEYED = [p for p in PATHS if p != "/gift_card/balance"]
WITH_METADATA = [p for p in PATHS if p != "/gift_card/deactivate"]
WITH_NUMBER = ["/gift_card/activate", "/gift_card/deactivate", "/gift_card/balance", "/financial_instruments"]


def key_field(path):
    return "idempotence_key" if path.startswith("/gift_card") else "idempotency_key"


def metadata_field(path):
    return "metadata.m" if path == "/financial_instruments" else "metadata"


def number_field(path):
    return {"/gift_card/balance": "identifier.number", "/financial_instruments": "metadata.number"}.get(path, "card_number")


NUL, SURROGATE = json.dumps("a\u0000b"), '"a\\ud800b"'
def bounded_field(path):
    return "metadata"  # authorize's metadata (with the number in it) is bounded as a whole


# (name, paths, parts of the body replaced, the field the 400 must name)
GROUPS = [
    ("nul-in-key", KEYED, dict(key=NUL), key_field),
    ("surrogate-in-key", KEYED, dict(key=SURROGATE), key_field),
    ("nul-in-metadata", WITH_METADATA, dict(metadata='{"note": %s}' % NUL), lambda p: f"{metadata_field(p)}.note"),
    ("surrogate-in-metadata", WITH_METADATA, dict(metadata='{"note": %s}' % SURROGATE),
     lambda p: f"{metadata_field(p)}.note"),
    ("nul-in-metadata-key", WITH_METADATA, dict(metadata='{%s: 1}' % NUL), metadata_field),
    ("surrogate-in-number", WITH_NUMBER, dict(number=SURROGATE), number_field),
    ("kelvin-sign-in-number", WITH_NUMBER, dict(number='"hostile\\u212acard0001"'), number_field),
    ("fullwidth-digit-in-number", WITH_NUMBER, dict(number='"hostile\\uff11card0001"'), number_field),
    ("nul-in-customer-id", ["/gift_card/activate", "/gift_card/issue"], dict(customer_id=NUL), lambda p: "customer.id"),
    ("nul-in-correlation-id", ["/gift_card/issue"], dict(correlation=NUL), lambda p: "correlation_id"),
    ("huge-exponent-ignored", PATHS, dict(extra=', "ignored": 1e9999999999999999999'), lambda p: "ignored"),
    ("tiny-exponent-ignored", PATHS, dict(extra=', "ignored": -1e-9999999999'), lambda p: "ignored"),
    ("huge-exponent-in-metadata", WITH_METADATA, dict(metadata='{"n": 1e400}'), lambda p: f"{metadata_field(p)}.n"),
    ("nesting-past-recursion-limit", PATHS, dict(extra=', "ignored": ' + "[" * 2000 + "]" * 2000), lambda p: "body"),
    ("nesting-past-body-depth", PATHS, dict(extra=', "ignored": ' + nested(40)), lambda p: "ignored"),
    ("metadata-nested-323", WITH_METADATA, dict(metadata=nested(323)), lambda p: "metadata"),
    ("metadata-one-level-too-deep", WITH_METADATA, dict(metadata=nested(bounds.MAX_DEPTH + 1)), bounded_field),
    ("metadata-one-key-too-many", WITH_METADATA,
     dict(metadata="{" + ",".join(f'"k{i}": 1' for i in range(bounds.MAX_KEYS + 1)) + "}"), bounded_field),
    ("metadata-too-large", WITH_METADATA, dict(metadata='{"pad": "%s"}' % ("x" * bounds.METADATA_MAX_BYTES)),
     bounded_field),
    ("duplicate-top-level-key", WITH_METADATA, dict(extra=', "metadata": {}'), lambda p: "body"),
    ("duplicate-metadata-key", WITH_METADATA, dict(metadata='{"a": 1, "a": 2}'), metadata_field),
]
CASES = [(f"{name}@{path.split('/')[-1]}", path, parts, field(path))
         for name, paths, parts, field in GROUPS for path in paths]


@pytest.mark.parametrize(("name", "path", "parts", "field"), CASES, ids=[case[0] for case in CASES])
async def test_refused_with_400_naming_the_field_and_nothing_changes(adapter, sandbox, db, instrument,
                                                                     name, path, parts, field):
    before = await snapshot(sandbox, db)
    status, body = await post_raw(adapter, path.format(i=instrument), body_text(path, instrument, **parts).encode())
    assert status == 400, body
    assert body["error_code"] == "bad_request" and body["request_accepted"] is False
    assert body["message"].split(": ")[0] == field, body["message"]
    assert await snapshot(sandbox, db) == before


def at_the_bounds(room_for_number: bool = False) -> dict:
    """Metadata exactly at every bound: MAX_DEPTH levels, MAX_KEYS keys, the size to the byte
    (authorize's metadata also holds the card number)."""
    deep: dict = {"leaf": 1}
    for _ in range(bounds.MAX_DEPTH - 2):
        deep = {"d": deep}
    others = bounds.MAX_KEYS - 3 - room_for_number
    metadata = {"order_id": "DEV-1", "deep": deep, **{f"k{i}": i for i in range(others)}}
    number = len(',"number":"boundscard000001"') if room_for_number else 0
    room = bounds.METADATA_MAX_BYTES - len(json.dumps(metadata, separators=(",", ":"))) - len(',"pad":""') - number
    metadata["pad"] = "p" * room
    return metadata


async def test_metadata_at_the_bounds_is_accepted_debited_once_and_echoed(adapter, sandbox):
    await new_card(sandbox, "boundscard000001", "100.00")
    body = authorize_body("boundscard000001", 30, "bounds-auth")
    body["metadata"] = {**at_the_bounds(room_for_number=True), "number": "boundscard000001"}
    status, answer, _ = await call(adapter, "/financial_instruments", body)
    assert status == 200, answer
    echoed = answer[0]["metadata"]
    sent = at_the_bounds(room_for_number=True)
    assert (echoed["deep"], echoed["pad"]) == (sent["deep"], sent["pad"])
    card = await ledger_view.card_by_code(sandbox, "boundscard000001")
    assert ledger_view.balance_of(card) == Decimal(70) and len(card["transactions"]) == 1


@pytest.mark.parametrize("past", ["one-byte", "one-key"])
async def test_one_step_past_the_bounds_is_refused_and_moves_nothing(adapter, sandbox, db, past):
    await new_card(sandbox, "boundscard000003", "100.00")
    metadata = {**at_the_bounds(room_for_number=True), "number": "boundscard000003"}
    if past == "one-byte":
        metadata["pad"] += "p"
    else:
        metadata["pad"] = metadata["pad"][:-10]
        metadata["x"] = 1
    body = authorize_body("boundscard000003", 30, "bounds-past")
    body["metadata"] = metadata
    before = await snapshot(sandbox, db)
    status, answer, _ = await call(adapter, "/financial_instruments", body)
    assert (status, answer["error_code"], answer["message"].split(":")[0]) == (400, "bad_request", "metadata")
    assert await snapshot(sandbox, db) == before


async def test_a_lost_refund_with_metadata_at_the_bounds_is_settled_and_answered(make_adapter, sandbox, db):
    """The settler builds the answer from what was encoded before the write: it cannot fail."""
    adapter = await make_adapter(reconcile_grace_seconds=0)
    await new_card(sandbox, "boundscard000002", "100.00")
    auth = (await call(adapter, "/financial_instruments", authorize_body("boundscard000002", 30, "bb-a")))[1][0]
    instrument_id = auth["instrument_id"]
    assert (await call(adapter, f"/financial_instruments/{instrument_id}/_capture", psp(30, "bb-c")))[0] == 200
    await ledger_view.add_fault(sandbox, kind="lose_response", operation="giftCardCredit", count=1)
    refund = psp(10, "bb-r", metadata=at_the_bounds())
    assert (await call(adapter, f"/financial_instruments/{instrument_id}/_refund", refund))[0] == 503
    assert await workers(adapter).reconciler.run_once() == {"completed": 1}
    status, answer, headers = await call(adapter, f"/financial_instruments/{instrument_id}/_refund", refund)
    assert (status, headers["Idempotent-Replayed"]) == (200, "true")
    assert answer[0]["metadata"]["deep"] == at_the_bounds()["deep"]
    async with db.acquire() as conn:
        row = await conn.fetchrow("SELECT refunded, refund_reserved FROM instruments")
    assert (row["refunded"], row["refund_reserved"]) == (Decimal(10), Decimal(0))
