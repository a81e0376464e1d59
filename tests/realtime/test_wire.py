"""The wire module's JSON, with each library it can use (json, orjson): compact
JSON that the json module reads back the same, and bad text named as such."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.realtime import wire

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip

Codec = tuple[Callable[[Any], str], Callable[[str], Any]]


def implementations() -> Iterator[Any]:
    """(dumps, loads) of each library, for the hypothesis tests (which cannot take the
    ``codec`` fixture: it is per test, not per example)."""
    yield pytest.param((wire._json_dumps, wire._json_loads), id="json")
    try:
        import orjson
    except ImportError:
        return
    yield pytest.param((wire._orjson_dumps, orjson.loads), id="orjson")


def test_the_library_in_use_is_named() -> None:
    try:
        import orjson  # noqa: F401
    except ImportError:
        assert (wire.JSON_LIBRARY, wire.dumps) == ("json", wire._json_dumps)
    else:
        assert (wire.JSON_LIBRARY, wire.dumps) == ("orjson", wire._orjson_dumps)


@pytest.mark.parametrize("impl", list(implementations()))
@given(value=json_values)
def test_dumps_is_compact_json_with_utf8_kept(impl: Codec, value: Any) -> None:
    dumps, loads = impl
    text = dumps(value)
    assert json.loads(text) == value == loads(text)
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if dumps is wire._json_dumps:
        assert text == compact
    else:  # the same but for how floats are written (1e-07 or 1e-7, 1e-05 or 0.00001)
        assert text.isascii() == compact.isascii()


@pytest.mark.parametrize("impl", list(implementations()))
@given(value=json_values, space=st.sampled_from(["", " ", "\n", " \t"]))
def test_loads_reads_what_json_reads(impl: Codec, value: Any, space: str) -> None:
    text = space + json.dumps({"t": "emit", "data": value}) + space
    assert impl[1](text) == json.loads(text)


def test_decode_uses_the_library(codec: str) -> None:
    text = '{"t":"emit","data":{"a":[1,2.5,"é"]}}'
    assert wire.decode(text, max_payload=1000, max_depth=10) == json.loads(text)


@pytest.mark.parametrize(
    ("bad", "says"), [({1j: 1}, "[Kk]eys? must"), (object(), "not JSON serializable"), ({1}, "set")]
)
def test_dumps_refuses_what_json_cannot_carry(codec: str, bad: Any, says: str) -> None:
    with pytest.raises(TypeError, match=says):
        wire.dumps(bad)


def test_nan_is_refused_by_json_and_null_for_orjson(codec: str) -> None:
    if codec == "json":
        with pytest.raises(ValueError):
            wire.dumps(math.nan)
    else:
        assert wire.dumps([math.nan, math.inf]) == "[null,null]"  # as JavaScript writes them


@pytest.mark.parametrize(
    "text",
    [
        '{"t":"x"} x',
        '{"t":"x"',
        "",
        "  ",
        '{"t":"x"}{}',
        '{"t":"x","data":NaN}',  # json's extensions are not JSON
        '{"t":"x","data":-Infinity}',
        '{"t":"x","data":"\\ud800"}',  # half a surrogate pair: no UTF-8 for it
        '{"t":"x","data":"a\\uDFFFb"}',
    ],
)
def test_decode_names_bad_json(codec: str, text: str) -> None:
    with pytest.raises(wire.MessageError, match="not JSON"):
        wire.decode(text, max_payload=1000, max_depth=10)


def test_decode_takes_a_whole_surrogate_pair(codec: str) -> None:
    message = wire.decode('{"t":"x","data":"\\ud83d\\ude00"}', max_payload=1000, max_depth=10)
    assert message["data"] == "\N{GRINNING FACE}"


def _depth(value: Any) -> int:
    """How deep a parsed value nests containers: what json_depth must find in its text."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def depth_implementations() -> Iterator[Any]:
    yield pytest.param(wire._json_depth_python, id="python")
    try:
        from switchboard._speedups import json_depth
    except ImportError:  # no compiler where it was built: the fallback is in use
        return
    yield pytest.param(json_depth, id="c")


@pytest.mark.parametrize("json_depth", list(depth_implementations()))
@given(value=json_values, ensure_ascii=st.booleans())
def test_json_depth_is_the_nesting_of_the_value(
    json_depth: Callable[[str], int], value: Any, ensure_ascii: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii)  # non-ASCII: 2- and 4-byte strs
    assert json_depth(text) == _depth(value)


@pytest.mark.parametrize("json_depth", list(depth_implementations()))
def test_json_depth_skips_brackets_in_strings(json_depth: Callable[[str], int]) -> None:
    assert json_depth('{"a":"[[{{","b":"\\"[[","c":["\\\\",["é{😀"]]}') == 3
    assert json_depth('"[[["') == 0


@pytest.mark.parametrize(("depth", "refused"), [(10, False), (11, True)])
def test_decode_refuses_what_nests_deeper_than_the_limit(
    codec: str, depth: int, refused: bool
) -> None:
    data = "[" * (depth - 1) + "]" * (depth - 1)  # the message object is level 1
    text = f'{{"t":"emit","data":{data},"s":"{"[" * 50}"}}'  # brackets in a string: free
    if refused:
        with pytest.raises(wire.MessageError, match="nested deeper than 10"):
            wire.decode(text, max_payload=1000, max_depth=10)
    else:
        assert wire.decode(text, max_payload=1000, max_depth=10)["t"] == "emit"
