"""`POST /admin/api/{version}/graphql.json`: Shopify's transport, versions, errors, cost and faults.

Order of checks, as Shopify answers them: token (401), body (400), parse/validation and
variables (200 errors, nothing charged), then faults, then cost (MAX_COST_EXCEEDED, THROTTLED),
then execution. Execution never awaits, so each document is atomic against the ledger. The
configured answer latency (SandboxConfig.latency_ms) is waited first, whatever the answer; the
answer then says how long (X-Sandbox-Latency-Ms), and the sandbox keeps it with the document's
name and the ids in its answer (Sandbox.latencies, for benchmarks that take the ledger's wait out
of what they measure).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from aiohttp import web
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode, execute

from giftcard_emulators.shopify.cost import CostCalculator
from giftcard_emulators.shopify.resolvers import RequestContext
from giftcard_emulators.shopify.runtime import Sandbox
from giftcard_emulators.shopify.schema import LATEST_RELEASE, PreparedDocument, prepare, variable_errors
from giftcard_emulators.shopify.versions import executable_schema, served_version

MAX_QUERY_COST = 1000
UNAUTHORIZED_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
BAD_REQUEST_BODY = {"errors": {"query": "Required parameter missing or invalid"}}
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
INTERNAL_ERROR_MESSAGE = "Internal error. Looks like something went wrong on our end."


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(body: Any) -> str:
    return json.dumps(body, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def _respond(body: Any, version: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"X-Shopify-API-Version": version, **(headers or {})}
    return web.Response(text=dumps(body), status=status, content_type="application/json", headers=all_headers)


def _root_fields(op: OperationDefinitionNode, prepared: PreparedDocument) -> list[str]:
    names: list[str] = []
    pending = list(op.selection_set.selections)
    while pending:
        selection = pending.pop(0)
        if isinstance(selection, FieldNode):
            names.append(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            pending.extend(selection.selection_set.selections)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in prepared.fragments:
            pending.extend(prepared.fragments[selection.name.value].selection_set.selections)
    return names


def _cost(sandbox: Sandbox, requested: int, actual: int | None) -> dict[str, Any]:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                     "throttleStatus": sandbox.bucket.status()}}


def _parse_body(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        return None
    variables = body.get("variables")
    if isinstance(variables, str):
        try:
            variables = json.loads(variables, parse_float=Decimal) if variables.strip() else None
        except ValueError:
            return None
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        return None
    body["variables"] = variables
    return body


def _drop_connection(request: web.Request) -> None:
    """The answer is lost in transit: the write committed, the client sees the socket die."""
    transport = request.transport
    if transport is not None:
        transport.abort()


# What the answered document was (its name, the ids its answer holds), for Sandbox.latencies.
ANSWERED = web.RequestKey("sandbox_answered", tuple)


def _ids(data: Any) -> list[str]:
    """Every object id (a gid) in an answer's data."""
    found: list[str] = []
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "id" and isinstance(item, str) and item.startswith("gid://"):
                    found.append(item)
                elif isinstance(item, dict | list):
                    pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
    return found


def make_handler(sandbox: Sandbox) -> Any:
    answer = _make_answer(sandbox)

    async def handle(request: web.Request) -> web.StreamResponse:
        latency = sandbox.answer_latency()
        if not latency:
            return await answer(request)
        await asyncio.sleep(latency)
        response = await answer(request)
        latency_ms = round(latency * 1000, 3)
        response.headers["X-Sandbox-Latency-Ms"] = str(latency_ms)
        operation, ids = request.get(ANSWERED, (None, []))
        sandbox.latencies.append({"operation": operation, "ids": ids, "latency_ms": latency_ms})
        return response

    return handle


def _make_answer(sandbox: Sandbox) -> Any:
    executable_schema(LATEST_RELEASE)  # the large schema now rather than inside the first request

    async def handle(request: web.Request) -> web.StreamResponse:
        # The URL's version chooses the schema; every answer names the version that served it
        # (an unsupported old one falls forward to the oldest supported: versions.py).
        served = served_version(request.match_info["version"])
        version = served.version
        if request.headers.get("X-Shopify-Access-Token") != sandbox.config.access_token:
            return _respond(UNAUTHORIZED_BODY, version, status=401)
        body = _parse_body(await request.read())
        if body is None:
            return _respond(BAD_REQUEST_BODY, version, status=400)

        schema = executable_schema(served.schema_release)
        prepared = prepare(body["query"], served.schema_release)
        if prepared.errors:
            return _respond({"errors": prepared.errors, "extensions": _cost(sandbox, 0, 0)}, version)
        operation_name = body.get("operationName") or None
        op = prepared.operation(operation_name)
        if op is None:
            message = (f"No operation named \"{operation_name}\"" if operation_name
                       else "An operation name is required")
            return _respond({"errors": [{"message": message}], "extensions": _cost(sandbox, 0, 0)}, version)
        variables = body["variables"]
        problems = variable_errors(op, variables, schema)
        if problems:
            return _respond({"errors": problems, "extensions": _cost(sandbox, 0, 0)}, version)

        # §14 item 29 scopes a fault to "one operation name": match the root fields (giftCardDebit)
        # and the document's own name (DebitCard), so either spelling targets the call.
        roots = _root_fields(op, prepared)
        sandbox.calls.update(roots)
        scope = roots + ([op.name.value] if op.name else [])
        triggered = sandbox.faults.take(scope)
        fault = triggered.terminal
        if triggered.latency_s:
            await asyncio.sleep(triggered.latency_s)
        if fault is not None and fault.kind == "hold" and fault.stage == "before":
            if not await sandbox.faults.hold(", ".join(_root_fields(op, prepared))):
                return _respond({"errors": "Service Unavailable"}, version, status=503)
        if fault is not None and fault.kind == "error_5xx":
            return _respond({"errors": "Bad Gateway" if fault.status == 502 else "Service Unavailable"},
                            version, status=fault.status)
        if fault is not None and fault.kind == "internal_server_error":
            return _respond({"errors": [{"message": INTERNAL_ERROR_MESSAGE,
                                         "extensions": {"code": "INTERNAL_SERVER_ERROR",
                                                        "requestId": request.headers.get("X-Request-Id", "sandbox")}}]},
                            version)

        calculator = CostCalculator(schema, prepared.fragments, variables)
        requested = calculator.operation(op)
        if requested > MAX_QUERY_COST:
            message = (f"Query cost is {requested}, which exceeds the single query max cost limit "
                       f"({MAX_QUERY_COST}).")
            return _respond({"errors": [{"message": message, "extensions": {
                "code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST}}],
                "extensions": _cost(sandbox, requested, None)}, version)
        if not sandbox.bucket.try_take(requested):
            sandbox.throttled.update(roots)
            throttled = {"errors": [{"message": "Throttled",
                                     "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}],
                         "extensions": _cost(sandbox, requested, None)}
            if sandbox.config.throttle_with_429:
                retry = str(sandbox.bucket.retry_after_seconds(requested))
                return _respond(throttled, version, status=429, headers={"Retry-After": retry})
            return _respond(throttled, version)

        context = RequestContext(sandbox.state)
        # Synchronous resolvers: graphql-core returns the result without ever awaiting.
        result = execute(schema, prepared.document, context_value=context, variable_values=variables,
                         operation_name=operation_name)
        assert not asyncio.iscoroutine(result), "sandbox resolvers must stay synchronous"
        actual = calculator.operation(op, result.data) if result.data is not None else requested
        actual = min(actual, requested)
        sandbox.bucket.refund(requested - actual)

        answer: dict[str, Any] = {}
        if result.errors:
            answer["errors"] = [error.formatted for error in result.errors]
        answer["data"] = result.data
        answer["extensions"] = _cost(sandbox, requested, actual)
        if context.search:
            answer["extensions"]["search"] = context.search
        if sandbox.config.latency_ms:
            request[ANSWERED] = (operation_name or (op.name.value if op.name else None), _ids(result.data))

        if fault is not None and fault.kind == "lose_response":
            _drop_connection(request)
            return web.Response(status=200)
        if fault is not None and fault.kind == "hold" and fault.stage == "after":
            await sandbox.faults.hold(", ".join(_root_fields(op, prepared)))
        return _respond(answer, version)

    return handle


async def handle_unknown_version(request: web.Request) -> web.Response:
    return web.Response(text=dumps({"errors": "Not Found"}), status=404, content_type="application/json")
