from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.mark.parametrize(("number", "written"), [
    ("1e100", "1" + "0" * 100),
    ("0.12345678901234567890123456789012", "0.12345678901234567890123456789012"),  # past 28 digits, exact
    ("123456789012345678901234567890.5", "123456789012345678901234567890.5"),
    ("1.2300", "1.23"), ("1E+2", "100"), ("-7.0", "-7"),
])
def test_decimals_are_written_exactly_whatever_their_size(number, written):
    # Decimal arithmetic would round at the context's 28 digits or raise: the answer of a write
    # that landed must not depend on it.
    assert jsonio.dumps(Decimal(number)) == written.encode()


def _reference(value) -> str:
    """What dumps wrote before its fast path: json.dumps for every string, an isinstance chain."""
    import json

    if isinstance(value, jsonio.RawJson):
        return value
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return jsonio.plain_number(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_reference(str(k))}:{_reference(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(_reference(v) for v in value) + "]"


_SCALARS = (st.text() | st.none() | st.booleans() | st.integers()
            | st.decimals(allow_nan=False, allow_infinity=False) | st.text().map(jsonio.RawJson))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@given(_VALUES)
def test_dumps_writes_what_json_would_whatever_the_value(value):
    assert jsonio.dumps(value) == _reference(value).encode()
