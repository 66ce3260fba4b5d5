import re

import pytest

from adapter.domain.cardcode import CardCode, InvalidCardNumber
from adapter.domain.cardnumbers import CardNumberReader, compile_pattern


def test_normalises_spaces_dashes_and_case():
    assert CardCode("5H78-K536 7H09").value == "5h78k5367h09"
    assert CardCode(" AbC-dEf\t12 34 ").value == "abcdef1234"


def test_shopify_code_rule_is_8_to_20_of_a_z_0_9():
    from adapter.shopify.client import SHOPIFY_CODE_RULE as rule

    assert rule.broken_by(CardCode("abcd1234").value) is None
    assert rule.broken_by(CardCode("A" * 20).value) is None
    assert rule.broken_by(CardCode("abc1234").value) == "8 to 20 letters a-z or digits 0-9"
    assert rule.broken_by(CardCode("a" * 21).value) is not None
    assert rule.broken_by("abcd_1234") is not None


@pytest.mark.parametrize("raw", ["abcd_1234", "abcdé1234", "abcd\u212a1234", "abcd\uff11234", "abcd.1234", "", " - "])
def test_anything_but_ascii_letters_and_digits_is_refused_not_folded(raw):
    # The Kelvin sign lower-cases to "k": folding it would let two spellings reach one card.
    with pytest.raises(InvalidCardNumber) as refused:
        CardCode(raw)
    assert "1234" not in str(refused.value)


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


@pytest.mark.parametrize("raw", ["shopify-giftcard-v1-abcd1234efgh5678", "SHOPIFY-GIFTCARD-V1-ABCD1234EFGH5678",
                                 "Shopify-GiftCard-v1-abcd 1234 efgh 5678", " shopify-giftcard-v1-abcd-1234-efgh-5678 "])
def test_the_shopify_qr_prefix_comes_off_in_any_case(raw):
    assert CardNumberReader().read(raw).value == "abcd1234efgh5678"


def test_a_number_without_a_prefix_is_read_as_it_is():
    assert CardNumberReader().read("ABCD-1234-efgh-5678").value == "abcd1234efgh5678"


def test_configured_prefixes_longest_first():
    reader = CardNumberReader(["GC", "GCX-"])
    assert reader.read("gcx-abcd12345678").value == "abcd12345678"
    assert reader.read("GCabcd12345678").value == "abcd12345678"


def test_a_pattern_takes_the_number_out_of_a_barcode():
    reader = CardNumberReader(pattern=r"SVS_GC-(\d{15})")
    assert reader.read("SVS_GC-123456789012345").value == "123456789012345"
    assert reader.read("svs_gc-123456789012345").value == "123456789012345"
    assert reader.read("123456789012345").value == "123456789012345"  # not matched: as it is
    with pytest.raises(InvalidCardNumber):
        reader.read("SVS_GC-1234")  # not matched, and "_" is no card character


@pytest.mark.parametrize("pattern", ["(a", "abc", "(a)(b)"])
def test_a_pattern_needs_exactly_one_capture_group(pattern):
    with pytest.raises(ValueError):
        compile_pattern(pattern)


def test_an_over_long_number_is_refused_before_any_work():
    with pytest.raises(InvalidCardNumber):
        CardNumberReader().read("a" * 65)
