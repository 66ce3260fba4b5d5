"""Thin handlers for NewStore's payment-provider webhooks (the gift_card tender)."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from adapter.http.idempotent import Plan, read_card, run_idempotent
from adapter.http.keys import SERVICES
from adapter.http.presenter import echoed_metadata
from adapter.http.middleware import DEADLINE
from adapter.http.schemas import AuthorizeRequest, PspRequest
from adapter.idempotency.coordinator import fingerprint
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
        command = _command(body)
        fp = fingerprint("authorize", services.vault.digest(code), command.amount.amount, command.amount.currency)
        return Plan(fp, lambda claim: payments.authorize(services, claim, code, command, request[DEADLINE]),
                    payments.planned_authorize_intent(services, code, command))

    return await run_idempotent(request, "authorize", KEY, AuthorizeRequest, prepare)


async def capture(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    instrument_id = _instrument_id(request)

    def prepare(body: PspRequest):
        command = _command(body)
        fp = fingerprint("capture", instrument_id, command.amount.amount, command.amount.currency)
        return Plan(fp, lambda claim: payments.capture(services, claim, instrument_id, command))

    return await run_idempotent(request, "capture", KEY, PspRequest, prepare, scope=_scope(instrument_id))


def _credit_back(operation: str, use_case):
    async def handler(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        instrument_id = _instrument_id(request)

        def prepare(body: PspRequest):
            command = _command(body)
            fp = fingerprint(operation, instrument_id, command.amount.amount, command.amount.currency)
            return Plan(fp, lambda claim: use_case(services, claim, instrument_id, command, request[DEADLINE]),
                        payments.planned_credit_back(operation, instrument_id, command))

        return await run_idempotent(request, operation, KEY, PspRequest, prepare, scope=_scope(instrument_id))

    handler.__name__ = operation
    return handler


refund = _credit_back("refund", payments.refund)
revoke = _credit_back("revoke", payments.revoke)
