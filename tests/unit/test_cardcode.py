import re

from adapter.domain.cardcode import CardCode


def test_normalises_spaces_dashes_and_case():
    assert CardCode("5H78-K536 7H09").value == "5h78k5367h09"
    assert CardCode(" AbC-dEf\t12 34 ").value == "abcdef1234"


def test_ledger_validity_is_8_to_20_of_a_z_0_9():
    assert CardCode("abcd1234").is_ledger_valid
    assert CardCode("a" * 20).is_ledger_valid
    assert not CardCode("abc1234").is_ledger_valid
    assert not CardCode("a" * 21).is_ledger_valid
    assert not CardCode("abcd_1234").is_ledger_valid
    assert not CardCode("abcdé1234").is_ledger_valid


def test_repr_and_str_show_only_the_last_four():
    code = CardCode("k3v9q2m8x7p4t6w1")
    assert "k3v9q2m8" not in repr(code) and "k3v9q2m8" not in str(code) and "k3v9q2m8" not in f"{code}"
    assert code.last4 == "t6w1"


def test_generated_codes_are_16_random_characters():
    codes = {CardCode.generate().value for _ in range(200)}
    assert len(codes) == 200
    assert all(re.fullmatch(r"[a-z0-9]{16}", c) for c in codes)


def test_generation_skips_the_bytes_that_would_bias_the_alphabet(monkeypatch):
    # 252..255 would map onto a..d a fifth time (256 = 7 * 36 + 4): they are dropped, and more
    # random bytes are read until 16 characters are chosen.
    reads = iter([bytes([252, 253, 254, 255] * 5), bytes([0, 35, 36, 251] + [1] * 16)])
    monkeypatch.setattr("adapter.domain.cardcode.secrets.token_bytes", lambda n: next(reads))
    assert CardCode.generate().value == "a9a9" + "b" * 12
