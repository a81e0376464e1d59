"""The wire module's JSON: its fast paths agree with the json module."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.realtime import wire

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(json_values)
def test_dumps_is_compact_json_with_utf8_kept(value: Any) -> None:
    assert wire.dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@given(json_values, st.sampled_from(["", " ", "\n", " \t"]))
def test_decode_reads_what_json_reads(value: Any, space: str) -> None:
    text = space + json.dumps({"t": "emit", "data": value}) + space
    assert wire.decode(text, max_payload=10**9, max_depth=1000) == json.loads(text)


@pytest.mark.parametrize(
    ("bad", "error"),
    [(math.nan, ValueError), ({1j: 1}, TypeError), (object(), TypeError)],
)
def test_dumps_refuses_what_json_cannot_carry(bad: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        wire.dumps(bad)


@pytest.mark.parametrize("text", ['{"t":"x"} x', '{"t":"x"', "", "  ", '{"t":"x"}{}'])
def test_decode_names_bad_json(text: str) -> None:
    with pytest.raises(wire.MessageError, match="not JSON"):
        wire.decode(text, max_payload=1000, max_depth=10)
