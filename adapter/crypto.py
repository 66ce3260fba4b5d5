"""Card codes at rest: a keyed digest for lookup, AES-GCM where a replay must return the code.

Two independent subkeys are derived from each card-code key with HKDF, so the lookup digest and
the encryption never share key material.

Several keys may be configured (CARD_CODE_KEYS) so that the key can be rotated: the first one
writes (digests and encryption), all of them read. Each key has an id, derived from the key with
its own HKDF label: 4 bytes, not reversible, safe to log, so operators need not label keys.

Ciphertext formats:
- version 1 (before key ids): 0x01 | nonce (12) | sealed. Decrypted by trying each key.
- version 2: 0x02 | key id (4) | nonce (12) | sealed, the 5-byte header bound as associated data
  in front of the caller's context.

A digest is the bare HMAC (32 bytes); the key id it was made with is stored beside it (a
`code_key_id` column), so a lookup can match the code's digest under any configured key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapter.domain.cardcode import CardCode

_NONCE_BYTES = 12
KEY_ID_BYTES = 4
VERSION_1 = b"\x01"
VERSION_2 = b"\x02"
HEADER_BYTES = 1 + KEY_ID_BYTES  # a version-2 ciphertext's version byte and key id


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"giftcard-adapter:" + purpose).derive(secret)


def key_id_of_secret(secret: str) -> bytes:
    """The id of a card-code key: 4 bytes of its own HKDF output, safe to show."""
    return _derive(secret.encode(), b"key-id:v1")[:KEY_ID_BYTES]


def ciphertext_key_id(blob: bytes) -> bytes | None:
    """The key id a ciphertext names (None for a version-1 ciphertext, which names none)."""
    return blob[1:HEADER_BYTES] if blob[:1] == VERSION_2 else None


class UnknownKeyId(ValueError):
    """A ciphertext was written under a key that is not configured. Its id is safe to show."""

    def __init__(self, key_id: bytes) -> None:
        super().__init__(f"ciphertext written under card-code key id {key_id.hex()}, which is not configured")
        self.key_id = key_id


class _Key:
    __slots__ = ("id", "digest_key", "aead")

    def __init__(self, secret: str) -> None:
        raw = secret.encode()
        self.id = key_id_of_secret(secret)
        self.digest_key = _derive(raw, b"code-digest:v1")
        self.aead = AESGCM(_derive(raw, b"encrypt:v1"))

    def digest(self, code: CardCode) -> bytes:
        return hmac.new(self.digest_key, code.value.encode(), hashlib.sha256).digest()


class CodeVault:
    """`secrets`: one key, or the configured keys with the one that writes first."""

    def __init__(self, secrets: str | Iterable[str]) -> None:
        keys = [_Key(secrets)] if isinstance(secrets, str) else [_Key(s) for s in secrets]
        if not keys:
            raise ValueError("a CodeVault needs at least one key")
        ids = [k.id for k in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("two card-code keys have the same key id (is a key listed twice?)")
        self._keys = tuple(keys)
        self._by_id = {k.id: k for k in keys}
        self._writer = keys[0]
        self._header = VERSION_2 + self._writer.id

    # ---- keys ---------------------------------------------------------------------------

    @property
    def key_id(self) -> bytes:
        """The id of the key that writes (digests and encryption)."""
        return self._writer.id

    @property
    def key_ids(self) -> tuple[bytes, ...]:
        """Every configured key's id, the writer's first."""
        return tuple(k.id for k in self._keys)

    @property
    def header(self) -> bytes:
        """How every ciphertext this vault writes starts: a stored one that does not is on an
        older key (or in the older format)."""
        return self._header

    # ---- digests ------------------------------------------------------------------------

    def digest(self, code: CardCode) -> bytes:
        """The code's digest under the writing key (store it with `key_id`)."""
        return self._writer.digest(code)

    def digests(self, code: CardCode) -> tuple[bytes, ...]:
        """The code's digest under every configured key, the writer's first: a lookup matches
        any of them (one, while a single key is configured)."""
        if len(self._keys) == 1:
            return (self._writer.digest(code),)
        return tuple(k.digest(code) for k in self._keys)

    # ---- encryption ---------------------------------------------------------------------

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return self._header + nonce + self._writer.aead.encrypt(nonce, plaintext, self._header + context)

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> bytes:
        version = blob[:1]
        if version == VERSION_2:
            key = self._by_id.get(blob[1:HEADER_BYTES])
            if key is None:
                raise UnknownKeyId(blob[1:HEADER_BYTES])
            nonce, sealed = blob[HEADER_BYTES : HEADER_BYTES + _NONCE_BYTES], blob[HEADER_BYTES + _NONCE_BYTES :]
            return key.aead.decrypt(nonce, sealed, blob[:HEADER_BYTES] + context)
        if version == VERSION_1:
            # Written before key ids: whichever configured key opens it (the writer's first).
            nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
            for key in self._keys:
                try:
                    return key.aead.decrypt(nonce, sealed, context)
                except InvalidTag:
                    continue
            raise InvalidTag()
        raise ValueError("unknown ciphertext version")

    def is_current(self, blob: bytes) -> bool:
        """Written by this vault's writing key, in the current format."""
        return blob[:HEADER_BYTES] == self._header

    def encrypt_code(self, code: CardCode) -> bytes:
        return self.encrypt(code.value.encode(), context=b"code")

    def decrypt_code(self, blob: bytes) -> CardCode:
        return CardCode(self.decrypt(blob, context=b"code").decode())
