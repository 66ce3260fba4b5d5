import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapter.crypto import CodeVault, UnknownKeyId, ciphertext_key_id, key_id_of_secret
from adapter.domain.cardcode import CardCode

KEY_A, KEY_B, KEY_C = "a" * 40, "b" * 40, "c" * 40
CODE = CardCode("k3v9q2m8x7p4t6w1")


def version_1_ciphertext(secret: str, plaintext: bytes, context: bytes) -> bytes:
    """What the vault wrote before key ids (format version 1), computed independently."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"giftcard-adapter:encrypt:v1")
    key = hkdf.derive(secret.encode())
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def test_digest_is_keyed_and_stable():
    code = CardCode("k3v9q2m8x7p4t6w1")
    assert CodeVault("a" * 40).digest(code) == CodeVault("a" * 40).digest(CardCode("K3V9-Q2M8-X7P4-T6W1"))
    assert CodeVault("a" * 40).digest(code) != CodeVault("b" * 40).digest(code)
    assert b"k3v9q2m8x7p4t6w1" not in CodeVault("a" * 40).digest(code)


def test_encryption_round_trips_and_hides_the_code():
    vault = CodeVault("a" * 40)
    code = CardCode("k3v9q2m8x7p4t6w1")
    blob = vault.encrypt_code(code)
    assert b"k3v9q2m8x7p4t6w1" not in blob
    assert vault.decrypt_code(blob) == code
    assert vault.encrypt_code(code) != blob  # fresh nonce each time


def test_ciphertext_is_bound_to_its_context_and_key():
    vault = CodeVault("a" * 40)
    blob = vault.encrypt(b"body", context=b"issue:1")
    with pytest.raises(InvalidTag):
        vault.decrypt(blob, context=b"issue:2")
    with pytest.raises(UnknownKeyId):
        CodeVault("b" * 40).decrypt(blob, context=b"issue:1")


def test_key_ids_are_derived_from_the_key_and_do_not_reveal_it():
    assert key_id_of_secret(KEY_A) == key_id_of_secret(KEY_A) == CodeVault(KEY_A).key_id
    assert len(key_id_of_secret(KEY_A)) == 4
    assert key_id_of_secret(KEY_A) != key_id_of_secret(KEY_B)
    assert key_id_of_secret(KEY_A) not in KEY_A.encode()
    # Not the digest subkey's or the encryption subkey's prefix either: a label of its own.
    assert CodeVault(KEY_A).key_id != CodeVault(KEY_A).digest(CODE)[:4]


def test_the_first_key_writes_and_every_key_reads():
    vault = CodeVault([KEY_B, KEY_A])
    assert vault.key_id == key_id_of_secret(KEY_B)
    assert vault.key_ids == (key_id_of_secret(KEY_B), key_id_of_secret(KEY_A))
    assert vault.digest(CODE) == CodeVault(KEY_B).digest(CODE)
    assert vault.digests(CODE) == (CodeVault(KEY_B).digest(CODE), CodeVault(KEY_A).digest(CODE))
    assert CodeVault(KEY_A).digests(CODE) == (CodeVault(KEY_A).digest(CODE),)  # one key, one digest
    written = vault.encrypt(b"body", context=b"issue:1")
    assert written[:1] == b"\x02" and ciphertext_key_id(written) == key_id_of_secret(KEY_B)
    assert vault.is_current(written)
    assert CodeVault(KEY_B).decrypt(written, context=b"issue:1") == b"body"
    with pytest.raises(UnknownKeyId) as unknown:
        CodeVault(KEY_A).decrypt(written, context=b"issue:1")
    assert key_id_of_secret(KEY_B).hex() in str(unknown.value) and KEY_B not in str(unknown.value)
    # What the old key wrote still reads, through the new vault, in either position.
    old = CodeVault(KEY_A).encrypt(b"old body", context=b"issue:2")
    assert not vault.is_current(old)
    assert vault.decrypt(old, context=b"issue:2") == b"old body"
    assert CodeVault([KEY_A, KEY_B]).decrypt(old, context=b"issue:2") == b"old body"


def test_the_key_id_in_the_header_is_authenticated():
    vault = CodeVault([KEY_A, KEY_B])
    blob = bytearray(vault.encrypt(b"body", context=b"ctx"))
    blob[1:5] = key_id_of_secret(KEY_B)  # claims the other configured key
    with pytest.raises(InvalidTag):
        vault.decrypt(bytes(blob), context=b"ctx")


def test_version_1_ciphertexts_decrypt_with_any_configured_key():
    blob = version_1_ciphertext(KEY_A, CODE.value.encode(), b"code")
    assert ciphertext_key_id(blob) is None
    assert CodeVault(KEY_A).decrypt_code(blob) == CODE
    assert CodeVault([KEY_B, KEY_A]).decrypt_code(blob) == CODE
    assert CodeVault([KEY_B, KEY_C, KEY_A]).decrypt_code(blob) == CODE
    assert not CodeVault(KEY_A).is_current(blob)
    with pytest.raises(InvalidTag):  # the key that wrote it is not listed
        CodeVault([KEY_B, KEY_C]).decrypt_code(blob)
    with pytest.raises(InvalidTag):  # right key, wrong context
        CodeVault([KEY_B, KEY_A]).decrypt(blob, context=b"issue:1")


def test_a_key_listed_twice_is_refused():
    with pytest.raises(ValueError, match="same key id"):
        CodeVault([KEY_A, KEY_B, KEY_A])
    with pytest.raises(ValueError):
        CodeVault([])
