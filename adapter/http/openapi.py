"""GET /openapi.json, generated from the same pydantic models that validate requests."""

from __future__ import annotations

from aiohttp import web
from pydantic.json_schema import models_json_schema

from adapter.http import jsonio, schemas

_OPERATIONS = {
    "/gift_card/balance": ("balance", schemas.BalanceRequest, schemas.BalanceAnswer),
    "/gift_card/issue": ("issue", schemas.IssueRequest, schemas.CardNumberAnswer),
    "/gift_card/activate": ("activate", schemas.ActivateRequest, schemas.CardNumberAnswer),
    "/gift_card/deactivate": ("deactivate", schemas.DeactivateRequest, schemas.CardNumberAnswer),
}


def build_document(extra_operations: dict | None = None) -> dict:
    operations = {**_OPERATIONS, **(extra_operations or {})}
    models = {m for _, req, ans in operations.values() for m in (req, ans)} | {schemas.ErrorAnswer}
    _, defs = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                                 ref_template="#/components/schemas/{model}")

    def ref(model) -> dict:
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def error(description: str) -> dict:
        return {"description": description, "content": {"application/json": {"schema": ref(schemas.ErrorAnswer)}}}

    paths = {}
    for path, (operation, request_model, answer_model) in operations.items():
        answer = ref(answer_model)
        if isinstance(answer_model, type) and getattr(answer_model, "__openapi_array__", False):
            answer = {"type": "array", "items": answer}
        paths[path] = {"post": {
            "operationId": operation,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref(request_model)}}},
            "responses": {
                "200": {"description": "success", "content": {"application/json": {"schema": answer}}},
                "400": error("bad_request or instrument_error"),
                "401": error("unauthorized"),
                "413": error("body over 1 MiB"),
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
