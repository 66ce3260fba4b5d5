"""GET /openapi.json, generated from the same pydantic models that validate requests."""

from __future__ import annotations

from aiohttp import web
from pydantic.json_schema import models_json_schema

from adapter import jsonio
from adapter.http import schemas

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


def _model(answer):
    return answer[0] if isinstance(answer, list) else answer


def build_document(extra_operations: dict | None = None) -> dict:
    operations = {**_OPERATIONS, **(extra_operations or {})}
    models = {m for _, req, ans in operations.values() for m in (req, _model(ans))} | {schemas.ErrorAnswer}
    _, defs = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                                 ref_template="#/components/schemas/{model}")

    def ref(model) -> dict:
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def error(description: str) -> dict:
        return {"description": description, "content": {"application/json": {"schema": ref(schemas.ErrorAnswer)}}}

    paths = {}
    for path, (operation, request_model, answer_model) in operations.items():
        # A one-element list marks an answer that is a JSON array of that model (PSP calls).
        answer = ref(_model(answer_model))
        if isinstance(answer_model, list):
            answer = {"type": "array", "items": answer}
        parameters = [{"name": "instrument_id", "in": "path", "required": True,
                       "schema": {"type": "string", "format": "uuid"}}] if "{instrument_id}" in path else []
        paths[path] = {"post": {
            "operationId": operation,
            "parameters": parameters,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref(request_model)}}},
            "responses": {
                "200": {"description": "success", "content": {"application/json": {"schema": answer}}},
                "400": error("bad_request or instrument_error"),
                "401": error("unauthorized"),
                "404": error("unknown instrument_id (instrument_error)"),
                "408": error("bad_request: the body did not arrive in time"),
                "413": error("body over 1 MiB"),
                "429": error("rate_limit: too many requests with this API key; see Retry-After"),
                "503": error("retry_error: safe to retry with the same key"),
            },
            "security": [{"bearer": []}, {"apiKey": []}],
        }}
    return {
        "openapi": "3.0.3",
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
