"""Thin handlers for NewStore's gift-card webhooks: parse, let the use case plan, answer."""

from __future__ import annotations

from aiohttp import web

from adapter.http.idempotent import read_card, run_idempotent
from adapter.http.keys import SERVICES
from adapter.http.middleware import DEADLINE
from adapter.http.presenter import present
from adapter.http.requests import read_object, validate
from adapter.http.schemas import ActivateRequest, BalanceRequest, DeactivateRequest, IssueRequest
from adapter.services import balance as balance_service
from adapter.services import create_card, deactivate as deactivate_service
from adapter.services.create_card import CreateCommand


async def balance(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    command = validate(BalanceRequest, await read_object(request))
    code = read_card(services, command.identifier.number, "identifier.number")
    status, body = present(await balance_service.balance(services, code, request[DEADLINE]))
    return web.Response(status=status, body=body, content_type="application/json")


async def issue(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    def prepare(body: IssueRequest):
        command = CreateCommand("issue", body.amount.money(), None, body.customer.id, body.correlation_id,
                                holder=body.customer.holder())
        return create_card.plan(services, command, request[DEADLINE])

    return await run_idempotent(request, "issue", ("idempotence_key", "correlation_id"), IssueRequest, prepare)


async def activate(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    def prepare(body: ActivateRequest):
        code = read_card(services, body.card_number, "card_number")
        command = CreateCommand("activate", body.amount.money(), code, body.customer.id,
                                holder=body.customer.holder())
        return create_card.plan(services, command, request[DEADLINE])

    return await run_idempotent(request, "activate", ("idempotence_key",), ActivateRequest, prepare)


async def deactivate(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    def prepare(body: DeactivateRequest):
        code = read_card(services, body.card_number, "card_number")
        return deactivate_service.plan(services, code, body.idempotence_key, request[DEADLINE])

    return await run_idempotent(request, "deactivate", ("idempotence_key",), DeactivateRequest, prepare)
