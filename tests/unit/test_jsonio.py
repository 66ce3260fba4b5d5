from decimal import Decimal

import pytest

from adapter import jsonio


def test_numbers_parse_exactly_never_through_float():
    body = jsonio.loads(b'{"a": 0.1, "b": 1e2, "c": 7, "d": 12345678901234567890.123456789}')
    assert body["a"] == Decimal("0.1") and isinstance(body["a"], Decimal)
    assert body["b"] == Decimal("100")
    assert body["c"] == 7
    assert body["d"] == Decimal("12345678901234567890.123456789")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_tokens_survive_parsing_so_validation_can_name_the_field(token):
    value = jsonio.loads(f'{{"v": {token}}}'.encode())["v"]
    assert isinstance(value, Decimal) and not value.is_finite()


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"", "{\"v\": \u0661}".encode()])
def test_broken_json_is_refused(raw):
    with pytest.raises(jsonio.BadJson):
        jsonio.loads(raw)


def test_dumps_writes_decimals_as_plain_numbers():
    assert jsonio.dumps({"value": Decimal("42.50"), "n": Decimal("1E+2"), "s": "é\"", "ok": False, "x": None}) == (
        '{"value":42.5,"n":100,"s":"é\\"","ok":false,"x":null}'.encode()
    )


def test_dumps_refuses_floats():
    with pytest.raises(TypeError):
        jsonio.dumps({"value": 1.5})
