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


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"a": 1, "a": 2}', "body"),
    (b'{"m": {"x": {"y": 1, "y": 1}}}', "m.x"),
    (b'{"k": "a\\u0000"}', "k"),
    (b'{"k": ["ok", "\\udfff"]}', "k.1"),
    (b'{"m": {"\\u0000": 1}}', "m"),
    (b'{"n": 1e309}', "n"),
    (b'{"n": 1e-309}', "n"),
    (b'{"n": 1e9999999999999999999}', "n"),
    (b'{"n": ' + b"9" * 400 + b"}", "n"),
    (b'{"deep": ' + b"[" * 33 + b"]" * 33 + b"}", "deep"),
    (b"[" * 5000 + b"]" * 5000, "body"),
    (b'{"secret\\u00e9key": {"x": "\\u0000"}}', "body"),  # a key that is not plain is not echoed
])
def test_what_must_not_get_further_is_refused_naming_the_field(raw, field):
    with pytest.raises(jsonio.BadJson) as refused:
        jsonio.loads(raw)
    assert refused.value.field == field


def test_numbers_at_the_edge_of_the_range_are_kept():
    assert jsonio.loads(b'{"n": 1e308, "m": -1e-308}') == {"n": Decimal("1e308"), "m": Decimal("-1e-308")}


def test_raw_json_is_spliced_as_encoded_and_extended_with_new_members():
    encoded = jsonio.RawJson('{"b":2}')
    assert jsonio.dumps({"m": jsonio.extend_object(encoded, {"a": "x"})}) == b'{"m":{"b":2,"a":"x"}}'
    assert jsonio.extend_object(jsonio.RawJson("{}"), {"a": 1}) == '{"a":1}'
