"""One middleware around every request: request id, deadline, auth, one error shape, one log
line and the request metrics. Nothing internal (stack, SQL, Shopify payload) reaches a body."""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import asyncpg
import structlog
from aiohttp import web

from adapter.domain.errors import UseCaseError
from adapter.http.errors import ApiError, error_response, from_use_case
from adapter.http.keys import API_KEYS, RATE_LIMITER, SETTINGS
from adapter.observability import metrics

log = structlog.get_logger("adapter.http")

DEADLINE = web.RequestKey("deadline", float)
UNAUTHENTICATED_PATHS = frozenset({"/health/live", "/health/ready", "/openapi.json"})

# Postgres going away, restarting or refusing connections: retryable, never a 500.
DEPENDENCY_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    ConnectionError,
    OSError,
)

_HTTP_ERRORS = {
    404: "unknown path",
    405: "method not allowed",
    413: "body: must be at most 1 MiB",
}


def _operation(request: web.Request) -> str | None:
    route = request.match_info.route
    name = getattr(route, "name", None)
    return name if name in metrics.OPERATIONS else None


def _outcome(status: int, error_code: str | None) -> str:
    if status < 400:
        return "success"
    if status == 401:
        return "unauthorized"
    if status in (429, 503):
        return "retry"
    if status >= 500:
        return "error"
    if error_code == "instrument_error" or (error_code is None and status in (400, 404)):
        return "decline"  # replayed answers are final declines: only those are stored
    return "invalid"


def _admit(request: web.Request) -> None:
    """Authenticate, then spend a token of the matched key's bucket (health is never limited)."""
    keys = request.app[API_KEYS]
    key = None
    if keys.enabled:
        key = keys.match(request)
        if key is None:
            raise ApiError(401, "unauthorized", "missing or invalid API key",
                           headers={"WWW-Authenticate": "Bearer"})
    limiter = request.app[RATE_LIMITER]
    wait = limiter.take(key)
    if wait:
        metrics.RATE_LIMITED.labels("none" if key is None else str(key + 1)).inc()
        raise ApiError(429, "rate_limit",
                       f"more than {limiter.per_second:g} requests per second with this API key "
                       f"(RATE_LIMIT_PER_KEY_PER_SECOND, bursts up to RATE_LIMIT_BURST={limiter.burst})",
                       retry_after=math.ceil(wait))


@web.middleware
async def handle(request: web.Request, handler) -> web.StreamResponse:
    structlog.contextvars.clear_contextvars()
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    operation = _operation(request)
    structlog.contextvars.bind_contextvars(request_id=request_id, operation=operation)
    settings = request.app[SETTINGS]
    started = time.perf_counter()
    request[DEADLINE] = asyncio.get_running_loop().time() + settings.request_deadline_seconds
    error_code = None
    try:
        if request.path not in UNAUTHENTICATED_PATHS:
            _admit(request)
        response = await handler(request)
    except ApiError as error:
        error_code, response = error.error_code, error_response(error)
    except UseCaseError as error:
        api_error = from_use_case(error)
        error_code, response = api_error.error_code, error_response(api_error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        api_error = ApiError(error.status, "bad_request", _HTTP_ERRORS.get(error.status, error.reason))
        error_code, response = api_error.error_code, error_response(api_error)
    except (*DEPENDENCY_ERRORS, asyncio.TimeoutError) as error:
        log.error("dependency_unavailable", error_type=type(error).__name__)
        api_error = ApiError(503, "retry_error", "temporarily unavailable, retry with the same key", retry_after=1)
        error_code, response = api_error.error_code, error_response(api_error)
    except Exception:
        log.exception("unhandled_error")
        api_error = ApiError(500, "internal_error", "internal error")
        error_code, response = api_error.error_code, error_response(api_error)
    response.headers["X-Request-Id"] = request_id
    duration = time.perf_counter() - started
    if operation is not None:
        outcome = _outcome(response.status, error_code)
        metrics.REQUESTS.labels(operation, outcome).inc()
        metrics.REQUEST_DURATION.labels(operation, outcome).observe(duration)
        log.info("request", status=response.status, outcome=outcome, error_code=error_code,
                 duration_ms=round(duration * 1000, 2),
                 replayed=response.headers.get("Idempotent-Replayed") == "true")
    return response
