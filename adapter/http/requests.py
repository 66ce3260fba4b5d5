"""Reading a NewStore request: the body, the idempotency key, the validated model."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from adapter import jsonio
from adapter.http.errors import ApiError, bad_request
from adapter.http.keys import SETTINGS
from adapter.http.middleware import DEADLINE
from adapter.observability import metrics

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {
    "missing": "is required",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most 255 characters",
    "finite_number": "must be a finite number",
}


async def read_body(request: web.Request) -> bytes:
    """The whole body, within HTTP_BODY_TIMEOUT_SECONDS and the request's deadline, else 408.

    Without a bound, a client sending its body slowly (or announcing more than it sends) would
    hold the request, its connection and its file descriptor for as long as it liked.
    """
    if request.content.is_eof():
        # All of it came with the headers (as a NewStore body does): nothing left to wait for,
        # so no timer to arm and cancel on the hot path.
        return await request.read()
    settings = request.app[SETTINGS]
    left = request[DEADLINE] - asyncio.get_running_loop().time()
    if settings.http_body_timeout_seconds <= left:
        budget, setting = settings.http_body_timeout_seconds, "HTTP_BODY_TIMEOUT_SECONDS"
    else:
        budget, setting = max(left, 0.0), "REQUEST_DEADLINE_SECONDS"
    try:
        async with asyncio.timeout(budget):
            return await request.read()  # aiohttp enforces client_max_size (413) here
    except TimeoutError:
        metrics.SLOW_CLIENTS.labels("body").inc()
        raise ApiError(408, "bad_request", f"body: not received in time ({setting})", close=True) from None
    except web.RequestPayloadError:
        raise ApiError(400, "bad_request", "body: malformed Content-Length or Transfer-Encoding",
                       close=True) from None


async def read_object(request: web.Request) -> dict[str, Any]:
    raw = await read_body(request)
    try:
        body = jsonio.loads(raw)
    except jsonio.BadJson as error:
        raise bad_request(error.field, error.message) from None
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    return body


def read_key(body: dict[str, Any], *fields: str) -> str | None:
    """The first present key field, validated as a 1-255 character string."""
    for field in fields:
        if field in body and body[field] is not None:
            value = body[field]
            if not isinstance(value, str):
                raise bad_request(field, "must be a string")
            if not 1 <= len(value) <= 255:
                raise bad_request(field, "must be 1 to 255 characters")
            return value
    return None


def validate(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise _first_problem(error) from None


def _first_problem(error: ValidationError) -> ApiError:
    problem = error.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in problem["loc"]) or "body"
    message = _MESSAGES.get(problem["type"], problem["msg"])
    return bad_request(field, message)
