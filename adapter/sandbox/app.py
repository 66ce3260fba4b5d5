"""The sandbox's HTTP face: Shopify's GraphQL endpoint, plus sandbox-only control routes."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from graphql import GraphQLError
from graphql.execution import execute_sync
from graphql.execution.values import get_variable_values

from adapter.sandbox.bucket import LeakyBucket
from adapter.sandbox.config import SandboxConfig
from adapter.sandbox.cost import CostCalculator
from adapter.sandbox.faults import FaultError, Faults
from adapter.sandbox.resolvers import Resolvers
from adapter.sandbox.schema import PreparedDocument, admin_schema, prepare
from adapter.sandbox.state import SandboxState, code_error, normalise_code

SANDBOX_STATE = web.AppKey("sandbox_state", SandboxState)
SANDBOX_FAULTS = web.AppKey("sandbox_faults", Faults)
SANDBOX_BUCKET = web.AppKey("sandbox_bucket", LeakyBucket)

MAX_QUERY_COST = 1000
UNAUTHORIZED = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
_VERSION = re.compile(r"^\d{4}-\d{2}$")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(body, default=str), status=status, content_type="application/json",
                        headers=headers)


def _cost(bucket: LeakyBucket, requested: int, actual: int | None) -> dict[str, Any]:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": bucket.status()}}


async def graphql(request: web.Request) -> web.Response:
    version = request.match_info["version"]
    headers = {"X-Shopify-API-Version": version}
    state, faults, bucket = request.app[SANDBOX_STATE], request.app[SANDBOX_FAULTS], request.app[SANDBOX_BUCKET]
    if request.headers.get("X-Shopify-Access-Token") != state.config.access_token:
        return _json(UNAUTHORIZED, 401, headers)
    try:
        payload = json.loads(await request.read(), parse_float=Decimal)
    except ValueError:
        return _json({"errors": {"query": "Required parameter missing or invalid"}}, 400, headers)
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return _json({"errors": {"query": "Required parameter missing or invalid"}}, 400, headers)
    prepared = prepare(payload["query"])
    if prepared.errors:
        return _json({"errors": prepared.errors}, 200, headers)
    operation = prepared.operation(payload.get("operationName"))
    if operation is None:
        return _json({"errors": [{"message": "An operation name is required",
                                  "extensions": {"code": "validationError"}}]}, 200, headers)
    schema = admin_schema()
    variables = payload.get("variables") or {}
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(coerced, list):
        return _json({"errors": [_invalid_variable(error, variables) for error in coerced]}, 200, headers)
    # graphql-core 3.3 wraps the values (VariableValues.coerced); 3.2 returns the dict itself.
    calculator = CostCalculator(schema, prepared.fragments, getattr(coerced, "coerced", coerced))
    requested = calculator.operation(operation)
    if requested > MAX_QUERY_COST:
        return _json({"errors": [{"message": f"Query cost is {requested}, which exceeds the single query max cost "
                                             f"limit ({MAX_QUERY_COST}).", "extensions": {"code": "MAX_COST_EXCEEDED",
                                             "cost": requested, "maxCost": MAX_QUERY_COST}}]}, 200, headers)

    fault = faults.pick(PreparedDocument.root_fields(operation))
    if fault is not None:
        if fault.kind == "latency":
            await asyncio.sleep(fault.latency_ms / 1000)
        elif fault.kind == "error_5xx":
            return web.Response(status=502, text="502 Bad Gateway", headers=headers)
        elif fault.kind == "internal_server_error":
            return _json({"errors": [{"message": "Internal error. Looks like something went wrong on our end.",
                                      "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}, 200, headers)
        elif fault.kind == "hold":
            faults.held += 1
            try:
                await faults.released.wait()
            finally:
                faults.held -= 1

    if not bucket.try_take(requested):
        if state.config.throttle_with_429:
            return _json({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                                    "uninterrupted service."}, 429,
                         {**headers, "Retry-After": str(bucket.retry_after_seconds(requested))})
        return _json({"errors": [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": _cost(bucket, requested, None)}, 200, headers)

    context: dict[str, Any] = {"search": []}
    # Synchronous on purpose: no await between reading and writing a balance.
    result = execute_sync(schema, prepared.document, root_value=Resolvers(state).root(), context_value=context,
                          variable_values=variables, operation_name=payload.get("operationName"))
    actual = calculator.operation(operation, result.data)
    bucket.refund(max(0, requested - actual))
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [{"message": e.message, "path": e.path, "extensions": {"code": "INTERNAL_ERROR"}}
                          if not isinstance(e.original_error, GraphQLError) and e.original_error is not None
                          else {"message": e.message, "path": e.path} for e in result.errors]
    body["data"] = result.data
    body["extensions"] = _cost(bucket, requested, actual)
    if context["search"]:
        body["extensions"]["search"] = context["search"]
    if fault is not None and fault.kind == "lose_response":
        # The write is committed; the caller never hears of it.
        request.transport.abort()
        raise asyncio.CancelledError
    return _json(body, 200, headers)


def _invalid_variable(error: GraphQLError, variables: dict[str, Any]) -> dict[str, Any]:
    match = re.search(r"Variable '\$(\w+)'", error.message)
    name = match[1] if match else None
    path = list(error.path or []) if error.path else ([name] if name else [])
    return {"message": error.message, "locations": [{"line": loc.line, "column": loc.column} for loc in error.locations or []],
            "extensions": {"code": "INVALID_VARIABLE", "value": variables.get(name) if name else None,
                           "problems": [{"path": path[1:] if path and path[0] == name else path,
                                         "explanation": error.message}]}}


# ---- sandbox-only control ---------------------------------------------------------------------

async def add_fault(request: web.Request) -> web.Response:
    try:
        fault = request.app[SANDBOX_FAULTS].add(await request.json())
    except (FaultError, ValueError, TypeError) as error:
        return _json({"error": str(error)}, 400)
    return _json({"id": fault.id})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[SANDBOX_FAULTS].clear()
    return _json({"cleared": True})


async def release(request: web.Request) -> web.Response:
    faults = request.app[SANDBOX_FAULTS]
    held = faults.held
    faults.release()
    return _json({"released": held})


async def state_view(request: web.Request) -> web.Response:
    faults = request.app[SANDBOX_FAULTS]
    return _json({"cards": request.app[SANDBOX_STATE].snapshot(), "held": faults.held, "faults_fired": faults.fired})


async def reset(request: web.Request) -> web.Response:
    request.app[SANDBOX_STATE].reset()
    request.app[SANDBOX_FAULTS].clear()
    request.app[SANDBOX_FAULTS].release()
    request.app[SANDBOX_BUCKET].refill_completely()
    return _json({"reset": True})


async def configure(request: web.Request) -> web.Response:
    config: SandboxConfig = request.app[SANDBOX_STATE].config
    changes = await request.json()
    for name, value in changes.items():
        if not hasattr(config, name):
            return _json({"error": f"unknown setting {name}"}, 400)
        current = getattr(config, name)
        setattr(config, name, Decimal(str(value)) if isinstance(current, Decimal) else type(current)(value))
    if "bucket_size" in changes:
        request.app[SANDBOX_BUCKET].refill_completely()
    return _json({"config": {k: str(v) for k, v in vars(config).items() if k != "access_token"}})


async def create_card(request: web.Request) -> web.Response:
    """A card made outside the adapter (bought online, made in the admin)."""
    state = request.app[SANDBOX_STATE]
    spec = await request.json()
    code = normalise_code(str(spec.get("code", "")))
    problem = code_error(code)
    if problem is not None or code in state.codes:
        return _json({"error": problem["message"] if problem else "Code has already been taken"}, 400)
    try:
        amount = Decimal(str(spec["amount"]))
        expires_on = date.fromisoformat(spec["expires_on"]) if spec.get("expires_on") else None
    except (KeyError, InvalidOperation, ValueError) as error:
        return _json({"error": f"bad card spec: {error}"}, 400)
    card = state.add_card(code=code, amount=amount, currency=spec.get("currency") or state.config.currency,
                          source=spec.get("source", "manual"), note=spec.get("note"), expires_on=expires_on,
                          enabled=spec.get("enabled", True))
    return _json({"id": card.gid})


def create_sandbox_app(config: SandboxConfig | None = None) -> web.Application:
    config = config or SandboxConfig()
    admin_schema()  # built once per process, before the first request needs it
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[SANDBOX_STATE] = SandboxState(config)
    app[SANDBOX_FAULTS] = Faults()
    app[SANDBOX_BUCKET] = LeakyBucket(config)
    app.router.add_post("/admin/api/{version:\\d{4}-\\d{2}}/graphql.json", graphql)
    app.router.add_post("/sandbox/faults", add_fault)
    app.router.add_delete("/sandbox/faults", clear_faults)
    app.router.add_post("/sandbox/release", release)
    app.router.add_get("/sandbox/state", state_view)
    app.router.add_post("/sandbox/reset", reset)
    app.router.add_post("/sandbox/config", configure)
    app.router.add_post("/sandbox/cards", create_card)
    return app
