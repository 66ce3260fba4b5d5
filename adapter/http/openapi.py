"""GET /openapi.json, generated from the same pydantic models that validate requests.

OpenAPI 3.1: its schemas are JSON Schema 2020-12, which is what pydantic writes (numeric
exclusiveMinimum, {"type": "null"} for optional fields). Requests use the models' validation
schema, answers their serialization schema; every answer that is not a success has the one
error shape (ErrorAnswer).
"""

from __future__ import annotations

from aiohttp import web
from pydantic.json_schema import models_json_schema

from adapter import jsonio
from adapter.http import feed_handlers, feed_schemas, schemas

_OPERATIONS = {
    "/gift_card/balance": ("balance", schemas.BalanceRequest, schemas.BalanceAnswer),
    "/gift_card/issue": ("issue", schemas.IssueRequest, schemas.CardNumberAnswer),
    "/gift_card/activate": ("activate", schemas.ActivateRequest, schemas.CardNumberAnswer),
    "/gift_card/deactivate": ("deactivate", schemas.DeactivateRequest, schemas.CardNumberAnswer),
    "/financial_instruments": ("authorize", schemas.AuthorizeRequest, [schemas.PspTransaction]),
    "/financial_instruments/{instrument_id}/_capture": ("capture", schemas.PspRequest, [schemas.PspTransaction]),
    "/financial_instruments/{instrument_id}/_refund": ("refund", schemas.PspRequest, [schemas.PspTransaction]),
    "/financial_instruments/{instrument_id}/_revoke": ("revoke", schemas.PspRequest, [schemas.PspTransaction]),
}

# Reads: GET, parameters in the query, no body.
_READS = {
    "/v1/gift_cards/events": ("feed_events", feed_schemas.EventsPage, [
        {"name": "after", "in": "query", "required": False,
         "description": ("The cursor: a next_cursor (or an event's sequence) this API gave; the page holds the events "
                         "after it, in commit order. Absent or 0: from the start. At most 2^63-1."),
         "schema": {"type": "string", "pattern": "^[0-9]{1,19}$", "default": "0"}},
        {"name": "limit", "in": "query", "required": False,
         "description": f"Events per page, 1 to {feed_handlers.MAX_LIMIT}.",
         "schema": {"type": "integer", "minimum": 1, "maximum": feed_handlers.MAX_LIMIT,
                    "default": feed_handlers.DEFAULT_LIMIT}},
    ], "The balance-change feed, by cursor: the same events in the same order whatever replica answers"),
}

# One request body per operation, from the contract's own examples (shared/spec/newstore.md).
_ACCOUNT = "a114c7ee-06c2-5752-ae58-1bc67eaf8e01"
_ORDER = {"order_id": "DEV-2243580", "order_number": "BRD100000404", "processed_at": "2026-11-20T15:13:21"}
EXAMPLES = {
    "balance": {"identifier": {"number": "5H78-K536-7H09-Q34N", "pin": "4125"},
                "metadata": {"store_id": "store-nyc-5th"}},
    "issue": {"amount": {"value": 50, "currency": "USD"},
              "customer": {"id": "64810476", "email": "jay_doubleyou@example.com", "name": "Jay Doubleyou"},
              "metadata": {"original_operation": "refund"},
              "idempotence_key": "0d8f5a0e-8a6e-4b63-9f1e-0c1d6a1f2b44",
              "correlation_id": "3f0c3a9e-7d7b-4c0e-9d59-0b9d2d1d5a11"},
    "activate": {"card_number": "5H78K5367H09Q34N22", "amount": {"value": 100, "currency": "USD"},
                 "customer": {"id": "64810476", "email": "jay_doubleyou@example.com", "name": "Jay Doubleyou",
                              "greeting_name": "Jay"},
                 "metadata": {"original_operation": "activation"}, "idempotence_key": "6234h6k263bb589v0bnv3"},
    "deactivate": {"card_number": "5h78k5367h09q34n22", "store_id": "store-nyc-5th",
                   "idempotence_key": "c2b8e1d4-6f3a-4e0b-9a7c-1d5e8f2a3b6c"},
    "authorize": {"account_id": _ACCOUNT, "transactions": [],
                  "idempotency_key": "9b1f6c1e-2f7a-4c55-8f0e-3d2b7a9c4e10",
                  "arguments": {"amount": 30, "currency": "USD", "payment_method": "gift_card"},
                  "metadata": {"number": "K3V9-Q2M8-X7P4-T6W1", **_ORDER}},
    "capture": {"account_id": _ACCOUNT, "transactions": [], "idempotency_key": "8863163c-cceb-412f-8b0d-d354844ea7bc",
                "arguments": {"amount": 20, "currency": "USD"}, "metadata": _ORDER},
    "refund": {"account_id": _ACCOUNT, "transactions": [], "idempotency_key": "140cf8b4-ec01-4dfe-9db3-163fd3edb117",
               "arguments": {"amount": 5, "currency": "USD"}, "metadata": {**_ORDER, "original_operation": "refund"}},
    "revoke": {"account_id": _ACCOUNT, "transactions": [],
               "idempotency_key": f"reduction-revoke-{_ACCOUNT}",
               "arguments": {"amount": 10, "currency": "USD"}, "metadata": _ORDER},
}

_INSTRUMENT_ID = {
    "name": "instrument_id", "in": "path", "required": True,
    "description": "The instrument id minted at authorize; any other value is 404 instrument_error.",
    "schema": {"type": "string", "format": "uuid"},
}

_HEADERS = {
    "Idempotent-Replayed": {"description": "true on an answer replayed from the key's stored outcome",
                            "schema": {"type": "string", "enum": ["true"]}},
    "Retry-After": {"description": "seconds to wait before retrying with the same key",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}},
}


def _model(answer):
    return answer[0] if isinstance(answer, list) else answer


def build_document(extra_operations: dict | None = None) -> dict:
    operations = {**_OPERATIONS, **(extra_operations or {})}
    requests = {req for _, req, _ in operations.values()}
    answers = ({_model(ans) for _, _, ans in operations.values()} | {answer for _, answer, _, _ in _READS.values()}
               | {schemas.ErrorAnswer})
    by_name = lambda m: m.__name__  # noqa: E731
    _, defs = models_json_schema([(m, "validation") for m in sorted(requests, key=by_name)]
                                 + [(m, "serialization") for m in sorted(answers, key=by_name)],
                                 ref_template="#/components/schemas/{model}")

    def ref(model) -> dict:
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def error(description: str, *headers: str) -> dict:
        answer = {"description": description, "content": {"application/json": {"schema": ref(schemas.ErrorAnswer)}}}
        if headers:
            answer["headers"] = {name: _HEADERS[name] for name in headers}
        return answer

    paths = {}
    for path, (operation, request_model, answer_model) in operations.items():
        # A one-element list marks an answer that is a JSON array of that model (PSP calls).
        answer = ref(_model(answer_model))
        if isinstance(answer_model, list):
            answer = {"type": "array", "items": answer, "minItems": 1}
        body = {"schema": ref(request_model)}
        if operation in EXAMPLES:
            body["example"] = EXAMPLES[operation]
        paths[path] = {"post": {
            "operationId": operation,
            "parameters": [_INSTRUMENT_ID] if "{instrument_id}" in path else [],
            "requestBody": {"required": True, "content": {"application/json": body}},
            "responses": {
                "200": {"description": "success", "headers": {"Idempotent-Replayed": _HEADERS["Idempotent-Replayed"]},
                        "content": {"application/json": {"schema": answer}}},
                "400": error("bad_request (the message names the field) or instrument_error (a business decline)",
                             "Idempotent-Replayed"),
                "401": error("unauthorized: missing or invalid API key", "WWW-Authenticate"),
                "404": error("instrument_error: unknown instrument_id; bad_request: unknown path",
                             "Idempotent-Replayed"),
                "408": error("bad_request: the body did not arrive in time"),
                "413": error("bad_request: body over 1 MiB"),
                "429": error("rate_limit: too many requests with this API key; see Retry-After", "Retry-After"),
                "503": error("retry_error: safe to retry with the same key", "Retry-After"),
                "500": error("internal_error: a bug or a configuration fault; never carries internals"),
            },
            "security": [{"bearer": []}, {"apiKey": []}],
        }}
    for path, (operation, answer_model, parameters, summary) in _READS.items():
        paths[path] = {"get": {
            "operationId": operation,
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "200": {"description": "success", "content": {"application/json": {"schema": ref(answer_model)}}},
                "400": error("bad_request: the message names the parameter (after, limit)"),
                "401": error("unauthorized: missing or invalid API key", "WWW-Authenticate"),
                "429": error("rate_limit: too many requests with this API key; see Retry-After", "Retry-After"),
                "503": error("retry_error: the database is unavailable; retry", "Retry-After"),
                "500": error("internal_error: a bug; never carries internals"),
            },
            "security": [{"bearer": []}, {"apiKey": []}],
        }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "giftcard-adapter", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=jsonio.dumps(build_document()), content_type="application/json")
