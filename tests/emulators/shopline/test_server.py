"""start_shopline on a real socket, as other suites and local runs use it."""

from __future__ import annotations

import aiohttp

from giftcard_emulators.shopline import ShoplineConfig, start_shopline


async def test_start_serve_and_close():
    running = await start_shopline(config=ShoplineConfig(access_token="t0ken", currency="EUR", handle="demo"))
    try:
        assert running.api_url == f"{running.base_url}/admin/openapi/v20260601"
        assert running.config.shop_domain == "demo.myshopline.com"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{running.api_url}/gift_cards.json", headers={"Authorization": "Bearer t0ken"},
                                    json={"gift_card": {"initial_value": "5.00"}}) as response:
                assert response.status == 201
                assert (await response.json())["gift_card"]["currency"] == "EUR"
                assert response.headers["traceId"]
            async with session.get(f"{running.control_url}/state") as response:
                assert len((await response.json())["cards"]) == 1
        assert running.emulator.calls["create_gift_card"] == 1
    finally:
        await running.close()
