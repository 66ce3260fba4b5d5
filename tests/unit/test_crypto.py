import pytest
from cryptography.exceptions import InvalidTag

from adapter.crypto import CodeVault
from adapter.domain.cardcode import CardCode


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
    with pytest.raises(InvalidTag):
        CodeVault("b" * 40).decrypt(blob, context=b"issue:1")
