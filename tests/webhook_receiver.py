"""A webhook receiver for the emulators' tests: records every request exactly as it arrived and
answers what the test asks (200 by default, or failures first)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def topic(self) -> str:
        return self.headers.get("X-Shopify-Topic") or self.headers.get("X-Shopline-Topic") or ""


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer first, in order
    url: str = ""

    def app(self) -> web.Application:
        async def receive(request: web.Request) -> web.Response:
            self.received.append(Received(dict(request.headers), await request.read()))
            status = self.answers.pop(0) if self.answers else 200
            return web.Response(status=status, text="ok")

        app = web.Application()
        app.router.add_post("/hook", receive)
        return app

    def topics(self) -> list[str]:
        return [r.topic for r in self.received]


async def start_receiver(aiohttp_server) -> Receiver:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    receiver.url = str(server.make_url("/hook"))
    return receiver
