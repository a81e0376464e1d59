"""Socket.IO v5 packets, the messages carried in Engine.IO messages (sans-I/O).

A packet is its type digit, for a binary one the number of attachments and
``-``, the namespace and ``,`` unless it is ``/``, an ack id, and JSON::

    0{"token":"x"}            CONNECT with auth        (4{"message":...}: refused)
    2["chat",{"text":"hi"}]   EVENT                    (212[...]: with ack id 12)
    312[{"ok":true}]          ACK of id 12
    51-["file",{"_placeholder":true,"num":0}]   BINARY_EVENT, one attachment

The attachments of a binary packet follow it as binary Engine.IO messages; in the
JSON, each is a placeholder ``{"_placeholder": true, "num": i}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONNECT",
    "DISCONNECT",
    "EVENT",
    "ACK",
    "CONNECT_ERROR",
    "BINARY_EVENT",
    "BINARY_ACK",
    "Packet",
    "PacketError",
    "decode",
    "encode",
    "Reassembler",
]

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)


class PacketError(ValueError):
    """A message is not a valid Socket.IO packet."""


@dataclass(slots=True)
class Packet:
    """One Socket.IO packet; ``data`` holds bytes where the attachments were."""

    type: int
    data: Any = None
    namespace: str = "/"
    id: int | None = None
    attachments: list[bytes] = field(default_factory=list)  # while reassembling


# type, attachments and "-", "/namespace" and ",", ack id: one match per packet.
_HEAD = re.compile(r"([0-6])(?:(\d{1,3})-)?(?:(/[^,]*)(?:,|$))?(\d{0,16})")


def decode(text: str, *, max_depth: int = 32) -> Packet:
    """Parse a text packet (a binary one still needs its attachments: see
    :class:`Reassembler`)."""
    head = _HEAD.match(text)
    if head is None:
        raise PacketError(f"unknown packet type {text[:1]!r}")
    kind_text, count, namespace, ack = head.groups()
    kind = int(kind_text)
    if (count is not None) != (kind in (BINARY_EVENT, BINARY_ACK)):
        raise PacketError("a binary packet (and only one) starts with its attachment count and '-'")
    ack_id = int(ack) if ack else None
    j = head.end()
    data: Any = None
    if j < len(text):
        if text[j].isdigit():
            raise PacketError("an ack id has at most 16 digits")
        if text.count("[", j) + text.count("{", j) > max_depth and _too_deep(text[j:], max_depth):
            raise PacketError(f"nested deeper than {max_depth}")
        try:
            data = json.loads(text[j:] if j else text)
        except RecursionError:
            raise PacketError(f"nested deeper than {max_depth}") from None
        except ValueError as exc:
            raise PacketError(f"not JSON: {exc}") from None
    attachments = int(count) if count is not None else 0
    namespace = namespace or "/"
    packet = Packet(kind, data, namespace, ack_id)
    if kind in (EVENT, BINARY_EVENT):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise PacketError("an event's data is a list starting with the event name")
    elif kind in (ACK, BINARY_ACK):
        if ack_id is None or not isinstance(data, list):
            raise PacketError("an ack has an id and a list of arguments")
    elif kind == CONNECT and data is not None and not isinstance(data, dict):
        raise PacketError("a CONNECT packet's auth is an object")
    packet.attachments = [b""] * attachments  # placeholders for what follows
    return packet


def _too_deep(text: str, limit: int) -> bool:
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


class Reassembler:
    """Collects a binary packet's attachments: :meth:`add` returns the packet once
    the last one arrived, with the placeholders replaced by the bytes."""

    def __init__(self, packet: Packet) -> None:
        self.packet = packet
        self._parts: list[bytes] = []

    def add(self, data: bytes) -> Packet | None:
        """Take the next attachment; the whole packet once it was the last."""
        self._parts.append(data)
        if len(self._parts) < len(self.packet.attachments):
            return None
        packet = self.packet
        packet.data = _fill(packet.data, self._parts)
        packet.attachments = []
        return packet


def _fill(value: Any, parts: list[bytes]) -> Any:
    if isinstance(value, list):
        return [_fill(item, parts) for item in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True and set(value) == {"_placeholder", "num"}:
            num = value["num"]
            if type(num) is not int or not 0 <= num < len(parts):
                raise PacketError(f"placeholder {num!r} names no attachment")
            return parts[num]
        return {key: _fill(item, parts) for key, item in value.items()}
    return value


def encode(packet: Packet) -> list[str | bytes]:
    """A packet as Engine.IO messages: the text packet, then its attachments (the
    bytes in ``data``; the type becomes BINARY_EVENT/BINARY_ACK if there are any)."""
    parts: list[bytes] = []
    data = _extract(packet.data, parts) if packet.data is not None else None
    kind = packet.type
    head = str(kind)
    if parts:
        kind = BINARY_EVENT if kind in (EVENT, BINARY_EVENT) else BINARY_ACK
        head = f"{kind}{len(parts)}-"
    if packet.namespace != "/":
        head += packet.namespace + ","
    if packet.id is not None:
        head += str(packet.id)
    text = head if data is None else head + dumps(data)
    return [text, *parts]


def _extract(value: Any, parts: list[bytes]) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        parts.append(bytes(value))
        return {"_placeholder": True, "num": len(parts) - 1}
    if isinstance(value, list):
        return [_extract(item, parts) for item in value]
    if isinstance(value, dict):
        return {key: _extract(item, parts) for key, item in value.items()}
    return value


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> str:
    """Compact JSON, as the hub writes it."""
    return _encoder.encode(value)
