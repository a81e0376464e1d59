"""Typed payloads: check an event's JSON data against the handler's annotation.

A handler declares what it accepts with a standard type; the hub builds a
validator once, at registration, and runs it before the handler::

    @dataclass
    class ChatIn:
        room: str
        text: str
        reply_to: int | None = None

    @hub.on("chat.send")
    async def send(session: Session, data: ChatIn) -> dict: ...

Supported: ``Any``/``object`` (anything), ``None``, ``bool``, ``int``, ``float``
(an int is accepted), ``str``, ``bytes`` (binary data), ``list[T]``,
``dict[str, T]``, ``tuple[T, ...]``, ``Literal[...]``, unions (``T | None``),
dataclasses and TypedDicts (nested, with defaults and ``NotRequired``; unknown keys
are refused), and pydantic models when pydantic is installed. A value that does not fit raises
:class:`~switchboard.realtime.InvalidPayload` naming the field, e.g.
``items.2.name: expected a string, got 42``. JSON ``true`` is not an ``int``.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import InvalidPayload

__all__ = ["validator", "accepts_anything", "to_json_value"]

Validator = Callable[[Any, str], Any]

_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    bytes: "bytes",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "a string" if len(value) > 20 else repr(value)
    return _NAMES.get(type(value), type(value).__name__)


def _fail(path: str, expected: str, value: Any) -> InvalidPayload:
    return InvalidPayload(path, f"expected {expected}, got {_describe(value)}")


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def validator(annotation: Any) -> Callable[[Any], Any]:
    """A function that checks (and converts) data for ``annotation``; it raises
    :class:`InvalidPayload`. Raises ``TypeError`` at once for an unsupported type."""
    check = _build(annotation)
    return lambda data: check(data, "")


def accepts_anything(annotation: Any) -> bool:
    """Whether ``annotation`` lets any JSON value through (``Any``, ``object``, none):
    then there is nothing to check."""
    return annotation is Any or annotation is object or annotation is inspect.Parameter.empty


def _build(tp: Any) -> Validator:
    if accepts_anything(tp):
        return lambda value, path: value
    if tp is None or tp is type(None):
        return _scalar(type(None), "null")
    if tp is bool:
        return _scalar(bool, "a boolean")
    if tp is int:
        return _int
    if tp is float:
        return _float
    if tp is str:
        return _scalar(str, "a string")
    if tp is bytes:  # sent as {"$binary": "<base64>"}, or a Socket.IO attachment
        return _scalar(bytes, "bytes")
    if tp is list:
        tp = list[Any]
    if tp is dict:
        tp = dict[str, Any]
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return _union([_build(arg) for arg in get_args(tp)], tp)
    if origin is Literal:
        return _literal(get_args(tp))
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return _list(_build(item))
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return _list(_build(args[0]), as_tuple=True)
        return _fixed_tuple([_build(arg) for arg in args])
    if origin is dict:
        key, value = get_args(tp) or (str, Any)
        if key is not str:
            raise TypeError(f"JSON object keys are strings: dict[{key!r}, ...] cannot be checked")
        return _dict(_build(value))
    if origin is typing.Annotated:
        return _build(get_args(tp)[0])
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp)
    if isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__"):
        return _typeddict(tp)
    model = _pydantic(tp)
    if model is not None:
        return model
    raise TypeError(f"cannot check payloads of type {tp!r}")


def _scalar(kind: type, name: str) -> Validator:
    def check(value: Any, path: str) -> Any:
        if type(value) is not kind:
            raise _fail(path, name, value)
        return value

    return check


def _int(value: Any, path: str) -> Any:
    if type(value) is not int:
        if type(value) is float and value.is_integer():
            return int(value)
        raise _fail(path, "an integer", value)
    return value


def _float(value: Any, path: str) -> Any:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _fail(path, "a number", value)


def _union(options: list[Validator], tp: Any) -> Validator:
    names = " or ".join(_type_name(arg) for arg in get_args(tp))

    def check(value: Any, path: str) -> Any:
        for option in options:
            try:
                return option(value, path)
            except InvalidPayload:
                continue
        raise _fail(path, names, value)

    return check


def _type_name(tp: Any) -> str:
    return _NAMES.get(tp, getattr(tp, "__name__", None) or repr(tp))


def _literal(values: tuple[Any, ...]) -> Validator:
    allowed = {(type(v), v) for v in values}
    names = ", ".join(repr(v) for v in values)

    def check(value: Any, path: str) -> Any:
        if (type(value), value) not in allowed:
            raise _fail(path, f"one of {names}", value)
        return value

    return check


def _list(item: Validator, *, as_tuple: bool = False) -> Validator:
    def check(value: Any, path: str) -> Any:
        if type(value) is not list:
            raise _fail(path, "a list", value)
        items = [item(v, _join(path, i)) for i, v in enumerate(value)]
        return tuple(items) if as_tuple else items

    return check


def _fixed_tuple(items: list[Validator]) -> Validator:
    def check(value: Any, path: str) -> Any:
        if type(value) is not list or len(value) != len(items):
            raise _fail(path, f"a list of {len(items)} items", value)
        return tuple(
            c(v, _join(path, i)) for i, (c, v) in enumerate(zip(items, value, strict=True))
        )

    return check


def _dict(item: Validator) -> Validator:
    def check(value: Any, path: str) -> Any:
        if type(value) is not dict:
            raise _fail(path, "an object", value)
        return {k: item(v, _join(path, k)) for k, v in value.items()}

    return check


def _fields_checker(
    fields: dict[str, Validator], required: set[str], build: Callable[[dict[str, Any]], Any]
) -> Validator:
    def check(value: Any, path: str) -> Any:
        if type(value) is not dict:
            raise _fail(path, "an object", value)
        for name in value:
            if name not in fields:
                raise InvalidPayload(_join(path, name), "unexpected field")
        for name in required:
            if name not in value:
                raise InvalidPayload(_join(path, name), "missing field")
        return build({k: fields[k](v, _join(path, k)) for k, v in value.items()})

    return check


def _dataclass(cls: type) -> Validator:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    checks = {name: _build(hints[name]) for name in fields}
    required = {
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return _fields_checker(checks, required, lambda values: cls(**values))


def _typeddict(cls: type) -> Validator:
    # Required/NotRequired are read from the hints themselves: __required_keys__ is
    # wrong for a TypedDict declared under ``from __future__ import annotations``.
    total = getattr(cls, "__total__", True)
    checks: dict[str, Validator] = {}
    required: set[str] = set()
    for name, tp in get_type_hints(cls, include_extras=True).items():
        marker = getattr(get_origin(tp), "_name", None) or repr(get_origin(tp))
        if marker.endswith("NotRequired"):
            tp = get_args(tp)[0]
        elif marker.endswith("Required"):
            tp = get_args(tp)[0]
            required.add(name)
        elif total:
            required.add(name)
        checks[name] = _build(tp)
    return _fields_checker(checks, required, dict)


def _pydantic(tp: Any) -> Validator | None:
    """pydantic models, when pydantic is installed (the ``pydantic`` extra)."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not (isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)):
        return None

    def check(value: Any, path: str) -> Any:
        try:
            return tp.model_validate(value)  # type: ignore[attr-defined]
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            loc = ".".join(str(part) for part in error.get("loc", ()))
            raise InvalidPayload(_join(path, loc) if loc else path, error["msg"]) from None

    return check


_PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})


def to_json_value(result: Any) -> Any:
    """What a handler returned, as JSON-ready values (dataclasses and pydantic models
    become objects)."""
    if type(result) in _PLAIN:
        return result
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    dump = getattr(result, "model_dump", None)
    if dump is not None and callable(dump):
        return dump(mode="json")
    return result
