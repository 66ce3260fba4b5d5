"""Background work a request starts waits until its answer is written (adapter.after_answer)."""

from __future__ import annotations

import json

from aiohttp import web

from adapter import after_answer
from adapter.http.middleware import observe, request_context
from adapter.http.keys import SETTINGS
from adapter.settings import Settings


def _app(seen: list) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        # What the deferred start finds: the answer already prepared and written, or not yet.
        after_answer.defer(lambda: seen.append((response.prepared, request.writer.output_size)))
        after_answer.defer(lambda: 1 / 0)  # a failing start is logged, and the others still run
        after_answer.defer(lambda: seen.append("second"))
        assert seen == []
        return response

    app = web.Application(middlewares=[request_context])
    app[SETTINGS] = Settings(embedded=True)
    app.router.add_post("/work", handler)
    return app


async def test_deferred_work_starts_once_the_answer_is_written(aiohttp_client):
    seen: list = []
    client = await aiohttp_client(_app(seen))
    response = await client.post("/work")
    assert response.status == 200 and await response.json() == {"ok": True}
    assert len(seen) == 2
    prepared, written = seen[0]
    assert prepared and written > 0
    assert seen[1] == "second"


def test_outside_a_request_it_starts_at_once():
    seen = []
    after_answer.defer(lambda: seen.append("now"))
    assert seen == ["now"]


async def test_the_request_line_is_written_after_the_answer_in_the_requests_context(aiohttp_client, captured_logs):
    logs_when_answered: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        # Runs before the request line is deferred, so it is first in line: it sees the log as
        # the answer leaves.
        after_answer.defer(lambda: logs_when_answered.append(captured_logs()))
        return response

    app = web.Application(middlewares=[request_context, observe])
    app[SETTINGS] = Settings(embedded=True)
    app.router.add_post("/gift_card/balance", handler, name="balance")
    client = await aiohttp_client(app)
    response = await client.post("/gift_card/balance", headers={"X-Request-Id": "req-deferred-1"})
    assert response.status == 200
    assert response.headers["X-Request-Id"] == "req-deferred-1"
    assert logs_when_answered and '"event": "request"' not in logs_when_answered[0]
    lines = [json.loads(line) for line in captured_logs().splitlines() if '"event": "request"' in line]
    assert [(line["request_id"], line["operation"], line["status"], line["outcome"]) for line in lines] == [
        ("req-deferred-1", "balance", 200, "success")]
