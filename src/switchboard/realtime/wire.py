"""The ``switchboard.v1`` wire format: JSON objects in text frames.

docs/realtime-protocol.md is the specification; this module holds its names and
builds and checks its messages, for the hub and the Python client alike. Frames
that go to many receivers (room events) are built once, by string concatenation
around the data serialized once, so a publication costs one ``json.dumps``
whatever the number of receivers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "SUBPROTOCOL",
    "VERSION",
    "MessageError",
    "decode",
    "dumps",
    "event_frame",
    "ack_frame",
    "error_ack_frame",
    "check_name",
    "BINARY",
    "tag_binary",
    "untag",
]

SUBPROTOCOL = "switchboard.v1"
VERSION = 1

# Close codes (see the protocol page). 4400-4499: the client must not reconnect;
# 4508, a timeout, is worth reconnecting after (a tab that slept, a network that
# stalled).
CLOSE_PROTOCOL_ERROR = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_TIMEOUT = 4508
CLOSE_RATE_LIMIT = 1008

PING = '{"t":"ping"}'
PONG = '{"t":"pong"}'

MAX_ROOM_NAME = 200
MAX_EVENT_NAME = 100
MAX_KEY = 100

BINARY = "$binary"  # the key of a tagged object: {"$binary": "<base64>"} is bytes
_BINARY_KEY = '"$binary"'  # as it appears in JSON text: no such text, no tagged object


def tag_binary(value: object) -> dict[str, str]:
    """The ``default`` of the hub's JSON: bytes (bytearray, memoryview) become a tagged
    object ``{"$binary": "<base64>"}``. json calls it only for types it does not know,
    so data without bytes costs nothing more."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BINARY: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def untag(value: Any, path: str = "") -> Any:
    """``value`` with each tagged object (exactly one key, ``"$binary"``) made
    ``bytes`` again. Bad base64 raises :class:`MessageError` (``invalid_payload``)
    naming the field as a payload error would (``path``: where ``value`` is)."""
    if isinstance(value, list):
        return [untag(item, f"{path}.{i}" if path else str(i)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        if len(value) == 1 and BINARY in value:
            text = value[BINARY]
            try:
                if not isinstance(text, str):
                    raise ValueError
                return base64.b64decode(text, validate=True)
            except (ValueError, binascii.Error):
                where = f"{path}: " if path else ""
                error = MessageError(
                    f'{where}a "{BINARY}" object holds base64, not {text!r:.40}',
                    "invalid_payload",
                )
                error.field = path
                raise error from None
        return {k: untag(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    return value


# --- JSON: the standard library's json, or orjson when it is installed -------------
#
# ``pip install switchboard[orjson]`` makes the hub's JSON about five times faster
# (docs/realtime.md, "JSON"); the values in and out are the same JSON values. Where
# the two differ, at the edges of JSON: orjson writes NaN and infinities as null (as
# JavaScript does; json refuses them), refuses integers beyond 64 bits (json writes
# them) and reads them as floats, and also writes UUID and Enum members. Both refuse
# NaN literals and lone surrogates in what they read.

try:
    import orjson
except ImportError:  # the standard library's json
    orjson = None  # type: ignore[assignment]

#: The library the wire's JSON uses: ``"orjson"`` when installed, else ``"json"``.
JSON_LIBRARY = "json" if orjson is None else "orjson"

_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=tag_binary
)


def _c_encoder() -> Any:
    """json's C encoder with our options, made once: ``JSONEncoder.encode`` makes one
    per call, which is half its cost for a small message. None where it is missing
    or differs from ``_encoder`` (then ``dumps`` uses ``_encoder``). No circular
    check: a circular value fails with RecursionError instead of ValueError."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encode = make(None, _encoder.default, json.encoder.encode_basestring, None, ":", ",",
                      False, False, False)  # fmt: skip
        probe = {"a": [1, 2.5, "é\n", None, True, b"\x00"]}
        if "".join(encode(probe, 0)) != _encoder.encode(probe):
            return None
    except Exception:  # another Python's C signature: the plain encoder is right
        return None
    return encode


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_encode = _c_encoder()
_decoder = json.JSONDecoder(parse_constant=_no_constant)
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]  # C, where there is one


def _json_dumps(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is (smaller frames), NaN refused, bytes as tagged
    objects (:func:`tag_binary`)."""
    if _encode is None:
        return _encoder.encode(value)
    return "".join(_encode(value, 0))


def _json_loads(text: str) -> Any:
    """One JSON value; ValueError when ``text`` is not JSON, or not UTF-8 once read."""
    # json's C scanner alone, without json.loads' two Python layers, for the usual
    # frame: a value with no whitespace around it; the decoder takes the rest, and
    # words the errors.
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        value = _decoder.decode(text)
    if "\\u" in text and ("\\ud" in text or "\\uD" in text):  # a surrogate: half a pair?
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate (not UTF-8)") from None
    return value


if orjson is not None:
    _ORJSON_OPTIONS = (
        orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    )

    def _orjson_dumps(value: Any) -> str:
        """Compact JSON, UTF-8 kept as is, NaN as null, bytes as tagged objects."""
        return orjson.dumps(value, default=tag_binary, option=_ORJSON_OPTIONS).decode()

    dumps = _orjson_dumps
    loads: Callable[[str], Any] = orjson.loads
else:
    dumps = _json_dumps
    loads = _json_loads


class MessageError(ValueError):
    """A frame is not a valid message; ``code`` is the wire error code."""

    def __init__(self, message: str, code: str = "bad_message") -> None:
        super().__init__(message)
        self.code = code
        #: The message, when it was parsed (its ``id`` gets the error as an ack).
        self.request: dict[str, Any] | None = None
        #: For ``invalid_payload``: the dotted path of the bad value in ``data``.
        self.field: str | None = None


def utf8_length(text: str) -> int:
    """The UTF-8 size of ``text``, without encoding it when it is ASCII (the usual case)."""
    return len(text) if text.isascii() else len(text.encode())


def decode(text: str, *, max_payload: int, max_depth: int) -> dict[str, Any]:
    """Parse one frame into its message object, enforcing the size (in UTF-8 bytes,
    as clients count it) and depth limits."""
    size = len(text) if text.isascii() else len(text.encode())
    if size > max_payload:
        raise MessageError(
            f"message too large: {size} bytes; the limit is {max_payload}", "too_large"
        )
    try:
        message = loads(text)
    except RecursionError:
        raise MessageError(f"nested deeper than {max_depth}", "too_large") from None
    except ValueError as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if type(message) is not dict:
        raise MessageError(f"a message is a JSON object, not {type(message).__name__}")
    if type(message.get("t")) is not str:
        raise MessageError('a message needs a string "t" member (its type)')
    if json_depth(text) > max_depth:
        raise MessageError(f"nested deeper than {max_depth}", "too_large")
    # Tagged objects only where the text names them; "$" first: one memchr, the
    # cheapest test for the usual frame, which has none.
    if "$" in text and _BINARY_KEY in text and "data" in message:
        try:
            message["data"] = untag(message["data"])
        except MessageError as exc:
            exc.request = message
            raise
    return message


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _json_depth_python(text: str) -> int:
    """How deep a valid JSON text nests objects and arrays (brackets in strings do not
    count): the fallback for the C extension's ``json_depth``."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "{[" else -1
        deepest = max(deepest, depth)
    return deepest


try:
    from .._speedups import json_depth
except ImportError:  # pragma: no cover - exercised by tests/realtime/test_wire.py
    json_depth = _json_depth_python


def check_name(value: object, what: str, limit: int) -> str:
    """A room or event name: a string of 1 to ``limit`` characters, no control characters."""
    if not isinstance(value, str):
        raise MessageError(f"{what} must be a string, not {type(value).__name__}")
    if not 0 < len(value) <= limit:
        raise MessageError(f"{what} must have 1 to {limit} characters, not {len(value)}")
    if not value.isprintable():
        raise MessageError(f"{what} must not contain control characters")
    return value


def event_frame(
    event: str,
    data_json: str,
    room: str | None = None,
    offset: int = 0,
    epoch: str | None = None,
) -> str:
    """An ``event`` message around data already serialized (once per publication)."""
    head = f'{{"t":"event","event":{dumps(event)}'
    if room is not None:
        head += f',"room":{dumps(room)}'
        if epoch is not None:
            head += f',"offset":{offset},"epoch":{dumps(epoch)}'
    return f'{head},"data":{data_json}}}'


def ack_frame(request_id: int, data_json: str) -> str:
    return f'{{"t":"ack","id":{request_id},"data":{data_json}}}'


def error_ack_frame(request_id: int, error: dict[str, Any]) -> str:
    return dumps({"t": "ack", "id": request_id, "error": error})


def request_id(message: dict[str, Any]) -> int | None:
    """The message's correlation id, if it has a valid one."""
    value = message.get("id")
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < 2**53:
        raise MessageError('"id" must be an integer from 0 to 2**53 - 1')
    return value
