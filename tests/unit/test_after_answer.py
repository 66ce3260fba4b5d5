"""Background work a request starts waits until its answer is written (adapter.after_answer)."""

from __future__ import annotations

from aiohttp import web

from adapter import after_answer
from adapter.http.middleware import request_context
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
