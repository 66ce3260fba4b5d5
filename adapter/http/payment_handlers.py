"""Thin handlers for NewStore's payment-provider webhooks (the gift_card tender): parse, let the
use case plan, answer."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from adapter.http.idempotent import read_card, run_idempotent
from adapter.http.keys import SERVICES
from adapter.http.presenter import echoed_metadata
from adapter.http.middleware import DEADLINE
from adapter.http.schemas import AuthorizeRequest, PspRequest
from adapter.services import payments
from adapter.services.payments import PaymentCommand

KEY = ("idempotency_key",)


def _instrument_id(request: web.Request) -> UUID | None:
    """A path id we could never have minted is simply an unknown instrument (404)."""
    try:
        return UUID(request.match_info["instrument_id"])
    except ValueError:
        return None


def _scope(instrument_id: UUID | None) -> str:
    """Capture, refund and revoke keys are unique per instrument (see idempotent.scoped_key)."""
    return str(instrument_id) if instrument_id is not None else "no-instrument"


def _command(body: PspRequest) -> PaymentCommand:
    metadata = body.metadata.model_dump() if hasattr(body.metadata, "model_dump") else dict(body.metadata or {})
    return PaymentCommand(body.arguments.money(), echoed_metadata(metadata), body.account_id)


async def authorize(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    def prepare(body: AuthorizeRequest):
        code = read_card(services, body.metadata.number, "metadata.number")
        return payments.plan_authorize(services, code, _command(body), request[DEADLINE])

    return await run_idempotent(request, "authorize", KEY, AuthorizeRequest, prepare)


async def capture(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    instrument_id = _instrument_id(request)

    def prepare(body: PspRequest):
        return payments.plan_capture(services, instrument_id, _command(body))

    return await run_idempotent(request, "capture", KEY, PspRequest, prepare, scope=_scope(instrument_id))


def _credit_back(operation: str):
    async def handler(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        instrument_id = _instrument_id(request)

        def prepare(body: PspRequest):
            return payments.plan_credit_back(services, operation, instrument_id, _command(body), request[DEADLINE])

        return await run_idempotent(request, operation, KEY, PspRequest, prepare, scope=_scope(instrument_id))

    handler.__name__ = operation
    return handler


refund = _credit_back("refund")
revoke = _credit_back("revoke")
