"""/openapi.json states the constraints the request models enforce, where they apply."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from adapter.http import schemas
from adapter.http.openapi import EXAMPLES, build_document

DOCUMENT = build_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
# NewStore's webhooks (POST, a body each); the feed's pull API is the one GET.
POSTS = {path: operation["post"] for path, operation in DOCUMENT["paths"].items() if "post" in operation}


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def prop(model: str, *path: str) -> dict:
    """The schema of model.path, through $refs and the optional-field anyOf [X, null]."""
    schema = SCHEMAS[model]
    for name in path:
        schema = resolve(schema)["properties"][name]
        schema = resolve(non_null(schema))
    return schema


def non_null(schema: dict) -> dict:
    if "anyOf" in schema:
        (schema,) = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
    return schema


def request_schema(path: str) -> dict:
    return resolve(POSTS[path]["requestBody"]["content"]["application/json"]["schema"])


AMOUNTS = [("IssueRequest", "amount", "value"), ("ActivateRequest", "amount", "value"),
           ("PspRequest", "arguments", "amount"), ("AuthorizeRequest", "arguments", "amount")]
CURRENCIES = [("IssueRequest", "amount", "currency"), ("ActivateRequest", "amount", "currency"),
              ("PspRequest", "arguments", "currency"), ("AuthorizeRequest", "arguments", "currency")]
CARD_NUMBERS = [("BalanceRequest", "identifier", "number"), ("ActivateRequest", "card_number"),
                ("DeactivateRequest", "card_number"), ("AuthorizeRequest", "metadata", "number")]
KEYS = [("IssueRequest", "idempotence_key"), ("IssueRequest", "correlation_id"),
        ("ActivateRequest", "idempotence_key"), ("DeactivateRequest", "idempotence_key"),
        ("PspRequest", "idempotency_key"), ("AuthorizeRequest", "idempotency_key")]
METADATA = [("BalanceRequest", "metadata"), ("IssueRequest", "metadata"), ("ActivateRequest", "metadata"),
            ("PspRequest", "metadata"), ("AuthorizeRequest", "metadata")]


def test_document_is_openapi_3_1_with_every_operation():
    assert DOCUMENT["openapi"] == "3.1.0"
    operations = {method: {op["operationId"] for path in DOCUMENT["paths"].values() for m, op in path.items() if m == method}
                  for method in ("post", "get")}
    assert operations == {"post": {"balance", "issue", "activate", "deactivate", "authorize", "capture", "refund",
                                   "revoke"},
                          "get": {"feed_events"}}
    assert {method for path in DOCUMENT["paths"].values() for method in path} == {"post", "get"}


@pytest.mark.parametrize("path", AMOUNTS, ids=".".join)
def test_amount_is_positive_bounded_and_describes_the_minor_unit(path):
    value = prop(*path)
    assert value["type"] == "number"
    assert value["exclusiveMinimum"] == 0
    assert value["exclusiveMaximum"] == 10 ** 12
    assert "minor unit" in value["description"] and "x-multiple-of" in value


def test_amount_bounds_are_the_domain_bounds():
    from adapter.domain.money import MAX_INTEGER_DIGITS, MoneyError, check_amount

    limit = Decimal(prop(*AMOUNTS[0])["exclusiveMaximum"])
    assert limit == 10 ** MAX_INTEGER_DIGITS
    check_amount(limit - Decimal("0.01"))
    for refused in (limit, Decimal(0)):
        with pytest.raises(MoneyError):
            check_amount(refused)


@pytest.mark.parametrize("path", CURRENCIES, ids=".".join)
def test_currency_has_the_alpha_3_pattern(path):
    currency = prop(*path)
    assert currency["type"] == "string" and currency["pattern"] == "^[A-Z]{3}$"


@pytest.mark.parametrize("path", CARD_NUMBERS, ids=".".join)
def test_card_numbers_have_a_generous_max_length_and_say_what_they_must_be(path):
    number = prop(*path)
    assert number["type"] == "string" and (number["minLength"], number["maxLength"]) == (1, 64)
    assert "8 to 20" in number["description"] and "shopify-giftcard-v1-" in number["description"]
    assert "only ASCII letters and digits" in number["description"]


@pytest.mark.parametrize("path", KEYS, ids=".".join)
def test_idempotency_keys_are_1_to_255_characters(path):
    key = prop(*path)
    assert key["type"] == "string" and (key["minLength"], key["maxLength"]) == (1, 255)


@pytest.mark.parametrize("path", METADATA, ids=".".join)
def test_metadata_bounds(path):
    metadata = prop(*path)
    assert metadata["type"] == "object"
    assert metadata["maxProperties"] == 64 and metadata["x-max-properties-per-object"] == 64
    assert metadata["x-max-depth"] == 8 and metadata["x-max-bytes"] == 16 * 1024
    assert metadata["x-max-items-per-array"] == 256
    assert "8 levels" in metadata["description"] and "16384 bytes" in metadata["description"]


@pytest.mark.parametrize("path", [p for p in DOCUMENT["paths"] if "{instrument_id}" in p])
def test_instrument_id_is_a_uuid_path_parameter(path):
    (parameter,) = POSTS[path]["parameters"]
    assert parameter["name"] == "instrument_id" and parameter["in"] == "path" and parameter["required"]
    assert parameter["schema"] == {"type": "string", "format": "uuid"}


@pytest.mark.parametrize("path", list(DOCUMENT["paths"]))
def test_every_error_status_has_the_error_shape(path):
    (method,) = DOCUMENT["paths"][path]
    responses = DOCUMENT["paths"][path][method]["responses"]
    # A GET has no body: nothing to arrive late (408) or to be too large (413), no instrument (404).
    errors = {"400", "401", "404", "408", "413", "429", "500", "503"} if method == "post" else {"400", "401", "429",
                                                                                                 "500", "503"}
    assert set(responses) == {"200"} | errors
    assert DOCUMENT["paths"][path][method]["security"] == [{"bearer": []}, {"apiKey": []}]
    for status in errors:
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorAnswer"}
    error = SCHEMAS["ErrorAnswer"]
    assert set(error["required"]) == {"error_code", "message", "request_accepted"}
    assert error["properties"]["request_accepted"]["const"] is False
    assert "retry_error" in error["properties"]["error_code"]["enum"]


def test_answers_are_described_as_sent():
    assert prop("BalanceAnswer", "value") == {"type": "number", "minimum": 0, "title": "Value"}
    assert prop("CardNumberAnswer", "identifier", "number")["pattern"] == "^[a-z0-9]{8,20}$"
    transaction = SCHEMAS["PspTransaction"]
    assert transaction["properties"]["instrument_id"]["format"] == "uuid"
    assert set(transaction["properties"]["reason"]["enum"]) == {"authorization", "capture", "refund", "revoke"}
    for path in ("/financial_instruments", "/financial_instruments/{instrument_id}/_capture"):
        ok = POSTS[path]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["type"] == "array" and ok["minItems"] == 1


@pytest.mark.parametrize("operation", list(EXAMPLES))
def test_examples_are_valid_requests(operation):
    path = next(p for p, op in POSTS.items() if op["operationId"] == operation)
    body = POSTS[path]["requestBody"]["content"]["application/json"]
    model = getattr(schemas, body["schema"]["$ref"].rsplit("/", 1)[1])
    model.model_validate(body["example"])


# What the document says is what is enforced.

def _issue(**fields):
    return {"amount": {"value": 5, "currency": "USD"}, "customer": {}, **fields}


def _problem(model, body) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    error = caught.value.errors()[0]
    return ".".join(map(str, error["loc"])), error["msg"]


def test_card_number_length_is_the_readers():
    from adapter.domain.cardcode import InvalidCardNumber
    from adapter.domain.cardnumbers import CardNumberReader

    limit = prop(*CARD_NUMBERS[0])["maxLength"]
    reader = CardNumberReader()
    assert reader.read("shopify-giftcard-v1-" + "a" * (limit - 20)).value == "a" * (limit - 20)
    for refused in ("a" * (limit + 1), ""):
        with pytest.raises(InvalidCardNumber):
            reader.read(refused)


def test_free_form_bounds_are_the_enforced_ones():
    from adapter.http import bounds

    metadata = prop("IssueRequest", "metadata")
    assert (metadata["maxProperties"], metadata["x-max-depth"], metadata["x-max-bytes"]) == (
        bounds.MAX_KEYS, bounds.MAX_DEPTH, bounds.METADATA_MAX_BYTES)
    schemas.IssueRequest.model_validate(_issue(metadata={f"k{i}": i for i in range(64)}))
    assert _problem(schemas.IssueRequest, _issue(metadata={f"k{i}": i for i in range(65)}))[0] == "metadata"
    deep = {"a": [[[[[[{"z": 1}]]]]]]}  # 8 levels: accepted; one more is not
    schemas.IssueRequest.model_validate(_issue(metadata=deep))
    assert _problem(schemas.IssueRequest, _issue(metadata={"a": [[[[[[[{}]]]]]]]}))[0] == "metadata"
    assert _problem(schemas.IssueRequest, _issue(metadata={"a": "x" * (16 * 1024)}))[0] == "metadata"


def test_transactions_and_the_ignored_instrument_are_bounded_too():
    transactions = prop("PspRequest", "transactions")
    assert transactions["type"] == "array" and transactions["maxItems"] == 256
    assert transactions["x-max-bytes"] == 64 * 1024 and transactions["x-max-depth"] == 8
    instrument = prop("AuthorizeArguments", "instrument")
    assert instrument["x-max-bytes"] == 16 * 1024 and instrument["x-max-depth"] == 8
