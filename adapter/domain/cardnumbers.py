"""Reading a card number as it arrives from a till: scanner prefixes off, then normalised.

Shopify's gift-card QR codes and many scanners send `shopify-giftcard-v1-<code>`, in any case
(NewStore's own Shopify adapter strips it). Other barcodes wrap the number in a pattern such as
`SVS_GC-(\\d{15})` (NewStore's gift-card guide): one configured pattern with a capture group
takes the number out of those. Matching ignores case, as NewStore's own matching does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from adapter.domain.cardcode import CardCode, InvalidCardNumber

SHOPIFY_QR_PREFIX = "shopify-giftcard-v1-"
DEFAULT_PREFIXES = (SHOPIFY_QR_PREFIX,)
# Longest raw number accepted, before prefixes and separators come off.
MAX_RAW_LENGTH = 64


class CardNumberReader:
    def __init__(self, prefixes: Iterable[str] = DEFAULT_PREFIXES, pattern: str | None = None) -> None:
        # Longest first, so that of two prefixes where one starts the other the longer one wins.
        self._prefixes = tuple(sorted({p.lower() for p in prefixes if p}, key=len, reverse=True))
        self._pattern = compile_pattern(pattern) if pattern else None

    def read(self, raw: str) -> CardCode:
        """The card's code, or InvalidCardNumber (whose message never holds the number)."""
        if not raw.strip():
            raise InvalidCardNumber("must not be empty")
        if len(raw) > MAX_RAW_LENGTH:
            raise InvalidCardNumber(f"must be at most {MAX_RAW_LENGTH} characters")
        number = raw.strip()
        if self._pattern is not None:
            matched = self._pattern.fullmatch(number)
            if matched is not None:
                number = matched.group(1)
        lowered = number.lower()
        for prefix in self._prefixes:
            if lowered.startswith(prefix):
                number = number[len(prefix):]
                break
        return CardCode(number)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A case-insensitive pattern with exactly one capture group; ValueError otherwise."""
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"is not a valid regular expression ({error.msg})") from None
    if compiled.groups != 1:
        raise ValueError("must have exactly one capture group, the card number")
    return compiled
