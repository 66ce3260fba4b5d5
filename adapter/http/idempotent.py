"""What every mutating handler shares: the order of checks around the idempotency claim."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import structlog
from aiohttp import web
from pydantic import BaseModel

from adapter.domain.cardcode import CardCode
from adapter.http.errors import ApiError
from adapter.http.keys import SERVICES
from adapter.http.middleware import DEADLINE
from adapter.http.presenter import present
from adapter.http.requests import read_key, read_object, validate
from adapter.idempotency.coordinator import Claim, StoredResponse
from adapter.store.reservations import Reservation
from adapter.store.writes import Intent, RegisteredCardIntent


class Plan(NamedTuple):
    """What a validated request will do under its claim."""

    fingerprint: bytes
    work: Callable[[Claim], Awaitable[StoredResponse]]
    # Its ledger-write intent, recorded with the claim when the use case can plan it upfront.
    intent: Intent | RegisteredCardIntent | Reservation | None = None


def bind_card(code: CardCode) -> None:
    structlog.contextvars.bind_contextvars(card_last4=code.last4)


def stored(response: StoredResponse) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if response.replayed else {}
    return web.Response(status=response.status, body=response.body, content_type="application/json",
                        headers=headers)


async def run_idempotent(
    request: web.Request,
    operation: str,
    key_fields: tuple[str, ...],
    model: type[BaseModel],
    prepare: Callable[[Any], Plan],
) -> web.Response:
    """The order of checks of spec §6.3: key, replay whatever the body says, validate, claim."""
    services = request.app[SERVICES]
    body = await read_object(request)
    key = read_key(body, *key_fields)
    try:
        plan = prepare(validate(model, body))
        invalid = None
    except ApiError as error:
        plan, invalid = None, error
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
