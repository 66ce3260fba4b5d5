"""What every mutating handler shares: the order of checks around the idempotency claim."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel

from adapter.domain.cardcode import CardCode, InvalidCardNumber
from adapter.domain.errors import InvalidInput
from adapter.http.errors import ApiError, bad_request, from_use_case
from adapter.http.keys import SERVICES
from adapter.http.middleware import DEADLINE
from adapter.http.presenter import present
from adapter.http.requests import read_key, read_object, validate
from adapter.idempotency.coordinator import StoredResponse
from adapter.services.plan import Plan


def read_card(services, raw: str, field: str) -> CardCode:
    """The card number as it arrived, scanner prefix and separators off; 400 naming the field
    if it is not one. Its last four go into the request's log context."""
    try:
        code = services.card_numbers.read(raw)
    except InvalidCardNumber as error:
        raise bad_request(field, str(error)) from None
    structlog.contextvars.bind_contextvars(card_last4=code.last4)
    return code


def scoped_key(scope: str | None, key: str | None) -> str | None:
    """The record key: the caller's key, within its scope where one is given.

    NewStore derives some PSP keys from the payment account alone (`reduction-cancel-<account>`)
    and sends the same key to every instrument of the account: capture, refund and revoke are
    idempotent per instrument, so the instrument id is part of their record key."""
    if key is None or scope is None:
        return key
    return f"{scope}/{key}"


def stored(response: StoredResponse) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if response.replayed else {}
    return web.Response(status=response.status, body=response.body, content_type="application/json",
                        headers=headers)


async def run_idempotent(
    request: web.Request,
    operation: str,
    key_fields: tuple[str, ...],
    model: type[BaseModel],
    prepare: Callable[[Any], Plan],  # the use case's plan for the validated body
    *,
    scope: str | None = None,
) -> web.Response:
    """The order of checks of spec §6.3: key, replay whatever the body says, validate, claim.

    `scope`: what the key is unique within besides the operation (the instrument, for capture,
    refund and revoke)."""
    services = request.app[SERVICES]
    body = await read_object(request)
    key = scoped_key(scope, read_key(body, *key_fields))
    try:
        plan = prepare(validate(model, body))
        invalid = None
    except ApiError as error:
        plan, invalid = None, error
    except InvalidInput as error:  # a use case's own rule on the input (an activation's code)
        plan, invalid = None, from_use_case(error)
    if invalid is not None:
        # A used key replays its answer whatever the new body says; an unused one gets the 400.
        replay = await services.idempotency.replay(operation, key, None) if key is not None else None
        if replay is not None:
            return stored(replay)
        raise invalid
    # A valid body goes straight to the claim: its ON CONFLICT finds a stored answer just as well.
    response = await services.idempotency.execute(
        operation, key, plan.fingerprint, plan.work, presenter=present, deadline=request[DEADLINE], intent=plan.intent
    )
    return stored(response)
