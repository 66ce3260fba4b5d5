"""Gift Card Hero emulator (issue #11): an independent model of the vendor's documented REST API
(/work/shared/seeds/001_7954c174efeb907f.txt). Undocumented choices: model.UNDOCUMENTED."""

from giftcard_emulators.gifthero.app import GiftHeroConfig, create_gifthero_app
from giftcard_emulators.gifthero.server import RunningGiftHero, start_gifthero

__all__ = ["GiftHeroConfig", "RunningGiftHero", "create_gifthero_app", "start_gifthero"]
