"""Gift-card numbers: normalisation (each ledger's code rule is in its Capabilities).

A card number is a bearer secret. CardCode keeps it out of repr/str so that an accidental log
line or exception text shows only the last four characters.
"""

from __future__ import annotations

import re
import secrets
import string

_STRIP = re.compile(r"[\s\-]+")
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]+")
_ALPHABET = string.ascii_lowercase + string.digits
GENERATED_LENGTH = 16
_UNBIASED_BELOW = 252  # the largest multiple of len(_ALPHABET) (36) that fits in a byte


class InvalidCardNumber(ValueError):
    """Not a card number at all. The message never contains the number."""


class CardCode:
    """A normalised card number: spaces and dashes stripped, lower-cased.

    Only ASCII letters and digits remain: anything else is refused rather than folded (the
    Kelvin sign K lower-cases to k, so folding would let two spellings reach one card)."""

    __slots__ = ("_value",)

    def __init__(self, raw: str) -> None:
        stripped = _STRIP.sub("", raw)
        if not _ASCII_ALNUM.fullmatch(stripped):
            raise InvalidCardNumber("must contain only letters A-Z and digits 0-9 (spaces and dashes ignored)")
        self._value = stripped.lower()

    @classmethod
    def generate(cls) -> CardCode:
        """16 characters of a-z0-9 from a cryptographic RNG: a code every ledger accepts.

        One read of random bytes instead of a secrets.choice() per character (which showed in
        the issue profile); bytes >= 252 are skipped so every character is equally likely."""
        chosen: list[str] = []
        while len(chosen) < GENERATED_LENGTH:
            chosen.extend(_ALPHABET[b % 36] for b in secrets.token_bytes(GENERATED_LENGTH + 4) if b < _UNBIASED_BELOW)
        return cls("".join(chosen[:GENERATED_LENGTH]))

    @property
    def value(self) -> str:
        """The full code. Only for the ledger call, the digest and encryption."""
        return self._value

    @property
    def last4(self) -> str:
        return self._value[-4:]

    def __repr__(self) -> str:
        return f"CardCode(…{self.last4})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CardCode) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)
