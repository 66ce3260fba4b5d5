"""Running the Gift Card Hero emulator on a real socket, like adapter/sandbox/server.py."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from giftcard_emulators.gifthero.app import BASE, GIFTHERO, GiftHero, GiftHeroConfig, create_gifthero_app
from giftcard_emulators.serving import serve


@dataclass
class RunningGiftHero:
    base_url: str  # e.g. http://127.0.0.1:PORT; the API is at api_url, control at base_url + /_emulator
    config: GiftHeroConfig
    app: web.Application
    runner: web.AppRunner

    @property
    def api_url(self) -> str:
        return self.base_url + BASE

    @property
    def emulator(self) -> GiftHero:
        return self.app[GIFTHERO]

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_gifthero(host: str = "127.0.0.1", port: int = 0,
                         config: GiftHeroConfig | None = None) -> RunningGiftHero:
    config = config or GiftHeroConfig()
    app = create_gifthero_app(config)
    base_url, runner = await serve(app, host, port)
    return RunningGiftHero(base_url, config, app, runner)
