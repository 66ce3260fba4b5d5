"""Card codes at rest: a keyed digest for lookup, AES-GCM where a replay must return the code.

Two independent subkeys are derived from CARD_CODE_KEY with HKDF, so the lookup digest and the
encryption never share key material.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapter.domain.cardcode import CardCode

_NONCE_BYTES = 12
_VERSION = b"\x01"


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"giftcard-adapter:" + purpose).derive(secret)


class CodeVault:
    def __init__(self, secret: str) -> None:
        raw = secret.encode()
        self._digest_key = _derive(raw, b"code-digest:v1")
        self._aead = AESGCM(_derive(raw, b"encrypt:v1"))

    def digest(self, code: CardCode) -> bytes:
        return hmac.new(self._digest_key, code.value.encode(), hashlib.sha256).digest()

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> bytes:
        if blob[:1] != _VERSION:
            raise ValueError("unknown ciphertext version")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        return self._aead.decrypt(nonce, sealed, context)

    def encrypt_code(self, code: CardCode) -> bytes:
        return self.encrypt(code.value.encode(), context=b"code")

    def decrypt_code(self, blob: bytes) -> CardCode:
        return CardCode(self.decrypt(blob, context=b"code").decode())
