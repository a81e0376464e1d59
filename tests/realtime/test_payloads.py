"""Typed payloads: validators built from annotations, and the errors they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from typing_extensions import NotRequired, TypedDict

from switchboard.realtime import InvalidPayload
from switchboard.realtime.payloads import to_json_value, validator


@dataclass
class Item:
    name: str
    qty: int = 1


@dataclass
class Order:
    id: int
    items: list[Item]
    kind: Literal["buy", "sell"]
    note: str | None = None
    tags: dict[str, float] = field(default_factory=dict)


class Move(TypedDict):
    x: int
    y: int
    label: NotRequired[str]


def test_nested_dataclasses_are_built() -> None:
    check = validator(Order)
    order = check({"id": 1, "items": [{"name": "a"}, {"name": "b", "qty": 3}], "kind": "buy"})
    assert order == Order(1, [Item("a"), Item("b", 3)], "buy")
    assert to_json_value(order)["items"][1] == {"name": "b", "qty": 3}


@pytest.mark.parametrize(
    ("data", "field_path", "message"),
    [
        ({"id": "1", "items": [], "kind": "buy"}, "id", "expected an integer, got '1'"),
        ({"id": True, "items": [], "kind": "buy"}, "id", "expected an integer, got true"),
        ({"id": 1, "items": [{"name": 5}], "kind": "buy"}, "items.0.name", "got 5"),
        ({"id": 1, "items": [{}], "kind": "buy"}, "items.0.name", "missing field"),
        ({"id": 1, "items": [], "kind": "hold"}, "kind", "one of 'buy', 'sell'"),
        ({"id": 1, "items": [], "kind": "buy", "x": 1}, "x", "unexpected field"),
        ({"id": 1, "items": [], "kind": "buy", "tags": {"a": "b"}}, "tags.a", "a number"),
        ({"id": 1, "items": {}, "kind": "buy"}, "items", "expected a list"),
        ([], "", "expected an object"),
    ],
)
def test_errors_name_the_field(data: Any, field_path: str, message: str) -> None:
    with pytest.raises(InvalidPayload) as invalid:
        validator(Order)(data)
    assert invalid.value.field == field_path
    assert message in invalid.value.message
    assert invalid.value.to_wire()["field"] == field_path


def test_typeddict_with_optional_keys() -> None:
    check = validator(Move)
    assert check({"x": 1, "y": 2}) == {"x": 1, "y": 2}
    assert check({"x": 1, "y": 2, "label": "a"})["label"] == "a"
    with pytest.raises(InvalidPayload, match="y: missing field"):
        check({"x": 1})


def test_plain_types() -> None:
    assert validator(Any)({"anything": [1]}) == {"anything": [1]}
    assert validator(float)(3) == 3.0
    assert validator(int)(3.0) == 3
    assert validator(tuple[int, ...])([1, 2]) == (1, 2)
    assert validator(tuple[int, str])([1, "a"]) == (1, "a")
    assert validator(int | None)(None) is None
    with pytest.raises(InvalidPayload, match="expected an integer or null"):
        validator(int | None)("x")
    with pytest.raises(TypeError, match="keys are strings"):
        validator(dict[int, str])
    with pytest.raises(TypeError, match="cannot check"):
        validator(set[int])


def test_pydantic_models() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Vote(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        card: str
        weight: int = 1

    check = validator(Vote)
    assert check({"card": "5"}).card == "5"
    with pytest.raises(InvalidPayload) as invalid:
        check({"card": "5", "weight": "heavy"})
    assert invalid.value.field == "weight"
    assert to_json_value(check({"card": "8"})) == {"card": "8", "weight": 1}
