"""SHOPLINE emulator: an independent model of SHOPLINE's documented gift-card REST Admin API
(/admin/openapi/{version}/gift_cards...), served over HTTP for tests and local runs.

    running = await start_shopline(config=ShoplineConfig(currency="EUR"))
    running.api_url   # http://127.0.0.1:PORT/admin/openapi/v20260601
    ...
    await running.close()

Or blocking: `python -m giftcard_emulators.shopline --port 8091`.
Control routes: giftcard_emulators.shopline.control; fault specs: .faults; every choice made where
SHOPLINE's documentation is silent: .choices.
"""

from giftcard_emulators.shopline.app import EMULATOR, create_shopline_app
from giftcard_emulators.shopline.config import DEFAULT_API_VERSION, KNOWN_VERSIONS, ShoplineConfig
from giftcard_emulators.shopline.runtime import Emulator
from giftcard_emulators.shopline.server import RunningShopline, run_shopline, start_shopline

__all__ = ["DEFAULT_API_VERSION", "EMULATOR", "KNOWN_VERSIONS", "Emulator", "RunningShopline", "ShoplineConfig",
           "create_shopline_app", "run_shopline", "start_shopline"]
