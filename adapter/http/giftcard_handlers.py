"""Thin handlers for NewStore's gift-card webhooks: read, validate, call the use case, answer."""

from __future__ import annotations

from aiohttp import web

from adapter.http.errors import bad_request
from adapter.http.idempotent import Plan, read_card, run_idempotent
from adapter.http.keys import SERVICES
from adapter.http.middleware import DEADLINE
from adapter.http.presenter import present
from adapter.http.requests import read_object, validate
from adapter.http.schemas import ActivateRequest, BalanceRequest, DeactivateRequest, IssueRequest
from adapter.idempotency.coordinator import fingerprint
from adapter.services import balance as balance_service
from adapter.services.cards import search_ahead
from adapter.services.create_card import CreateCommand, create_card
from adapter.services.create_card import planned_intent as planned_create_intent
from adapter.services.deactivate import deactivate as deactivate_service
from adapter.services.deactivate import planned_intent as planned_deactivate_intent


async def balance(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    command = validate(BalanceRequest, await read_object(request))
    code = read_card(services, command.identifier.number, "identifier.number")
    status, body = present(await balance_service.balance(services, code, request[DEADLINE]))
    return web.Response(status=status, body=body, content_type="application/json")


async def issue(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    def prepare(command: IssueRequest):
        money = command.amount.money()
        create = CreateCommand("issue", money, None, command.customer.id, command.correlation_id)
        fp = fingerprint("issue", money.amount, money.currency)
        return Plan(fp, lambda claim: create_card(services, claim, create, request[DEADLINE]),
                    planned_create_intent(services, create))

    return await run_idempotent(request, "issue", ("idempotence_key", "correlation_id"), IssueRequest,
                                prepare)


async def activate(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    def prepare(command: ActivateRequest):
        code = read_card(services, command.card_number, "card_number")
        broken_rule = services.ledger.capabilities.code_rule.broken_by(code.value)
        if broken_rule is not None:
            raise bad_request("card_number", f"must be {broken_rule} (spaces and dashes ignored)")
        money = command.amount.money()
        create = CreateCommand("activate", money, code, command.customer.id)
        fp = fingerprint("activate", services.vault.digest(code), money.amount, money.currency)
        return Plan(fp, lambda claim: create_card(services, claim, create, request[DEADLINE]),
                    planned_create_intent(services, create))

    return await run_idempotent(request, "activate", ("idempotence_key",), ActivateRequest, prepare)


async def deactivate(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    def prepare(command: DeactivateRequest):
        code = read_card(services, command.card_number, "card_number")
        fp = fingerprint("deactivate", services.vault.digest(code))
        planned = planned_deactivate_intent(services, code)
        ahead = search_ahead(services, code, planned, request[DEADLINE], operation="deactivate",
                             key=command.idempotence_key)
        return Plan(fp, lambda claim: deactivate_service(services, claim, code, request[DEADLINE], ahead), planned)

    return await run_idempotent(request, "deactivate", ("idempotence_key",), DeactivateRequest, prepare)
