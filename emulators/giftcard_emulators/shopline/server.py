"""Running the SHOPLINE emulator on a real socket: in-process for tests, or blocking for local runs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from aiohttp import web

from giftcard_emulators.shopline.app import EMULATOR, create_shopline_app
from giftcard_emulators.shopline.config import ShoplineConfig
from giftcard_emulators.shopline.runtime import Emulator
from giftcard_emulators.serving import serve


@dataclass
class RunningShopline:
    base_url: str  # http://host:port, what stands in for https://{handle}.myshopline.com
    config: ShoplineConfig
    app: web.Application
    runner: web.AppRunner

    @property
    def emulator(self) -> Emulator:
        return self.app[EMULATOR]

    @property
    def api_url(self) -> str:
        """The base of the Admin REST API for the configured version, without a trailing slash."""
        return f"{self.base_url}/admin/openapi/{self.config.api_version}"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_emulator"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_shopline(host: str = "127.0.0.1", port: int = 0,
                         config: ShoplineConfig | None = None) -> RunningShopline:
    config = config or ShoplineConfig()
    app = create_shopline_app(config)
    base_url, runner = await serve(app, host, port)
    return RunningShopline(base_url, config, app, runner)


def run_shopline(host: str = "127.0.0.1", port: int = 8091, config: ShoplineConfig | None = None) -> None:
    """Serve until interrupted."""
    config = config or ShoplineConfig()
    print(f"SHOPLINE emulator on http://{host}:{port}/admin/openapi/{config.api_version}/ "
          f"(control: http://{host}:{port}/_emulator/state)", flush=True)
    web.run_app(create_shopline_app(config), host=host, port=port, access_log=None, print=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m giftcard_emulators.shopline",
                                     description="Serve the SHOPLINE gift-card emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--token", default=ShoplineConfig.access_token)
    parser.add_argument("--handle", default=ShoplineConfig.handle)
    parser.add_argument("--currency", default=ShoplineConfig.currency)
    parser.add_argument("--api-version", default=ShoplineConfig.api_version)
    args = parser.parse_args(argv)
    run_shopline(args.host, args.port, ShoplineConfig(handle=args.handle, access_token=args.token,
                                                      currency=args.currency, api_version=args.api_version))
