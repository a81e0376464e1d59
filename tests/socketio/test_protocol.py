"""Socket.IO packets, sans-I/O: what socket.io-client and python-socketio send and
expect, byte for byte, and bad packets refused with a clear PacketError."""

from __future__ import annotations

import pytest

from switchboard.realtime.socketio import protocol
from switchboard.realtime.socketio.protocol import Packet, PacketError, Reassembler


@pytest.mark.parametrize(
    ("text", "packet"),
    [
        ("0", Packet(protocol.CONNECT)),
        ('0{"token":"x"}', Packet(protocol.CONNECT, {"token": "x"})),
        ("0/admin,", Packet(protocol.CONNECT, None, "/admin")),
        ('2["chat",{"text":"hi"}]', Packet(protocol.EVENT, ["chat", {"text": "hi"}])),
        ('212["chat"]', Packet(protocol.EVENT, ["chat"], id=12)),
        ('2/admin,7["x",1]', Packet(protocol.EVENT, ["x", 1], "/admin", 7)),
        ("312[]", Packet(protocol.ACK, [], id=12)),
        ("1", Packet(protocol.DISCONNECT)),
    ],
)
def test_decode(text: str, packet: Packet) -> None:
    assert protocol.decode(text) == packet


def test_a_binary_event_is_reassembled_from_its_attachments() -> None:
    head = protocol.decode(
        '52-3["file",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]'
    )
    assert head.type == protocol.BINARY_EVENT and head.id == 3 and len(head.attachments) == 2
    parts = Reassembler(head)
    assert parts.add(b"first") is None
    packet = parts.add(b"second")
    assert packet is not None
    assert packet.data == ["file", b"second", [b"first"]]


def test_encode_puts_bytes_in_attachments() -> None:
    assert protocol.encode(Packet(protocol.EVENT, ["ev", {"n": 1}])) == ['2["ev",{"n":1}]']
    assert protocol.encode(Packet(protocol.ACK, [b"\x00\x01", "x"], id=4)) == [
        '61-4[{"_placeholder":true,"num":0},"x"]',
        b"\x00\x01",
    ]
    assert protocol.encode(Packet(protocol.CONNECT_ERROR, {"message": "no"}, "/a")) == [
        '4/a,{"message":"no"}'
    ]
    # What encode writes, decode reads back.
    text, attachment = protocol.encode(Packet(protocol.EVENT, ["up", b"\xff"], id=9))
    assert isinstance(text, str) and isinstance(attachment, bytes)
    reassembler = Reassembler(protocol.decode(text))
    assert reassembler.add(attachment) == Packet(protocol.BINARY_EVENT, ["up", b"\xff"], id=9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unknown packet type"),
        ("7", "unknown packet type"),
        ("2{}", "an event's data is a list starting with the event name"),
        ("2[1]", "an event's data is a list starting with the event name"),
        ("2[", "not JSON"),
        ('3["x"]', "an ack has an id"),
        ("5[]", "attachment count"),
        ('0"auth"', "auth is an object"),
        ("2" + "[" * 40 + "]" * 40, "nested deeper than 32"),
    ],
)
def test_bad_packets(text: str, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        protocol.decode(text)


def test_a_placeholder_must_name_an_attachment() -> None:
    reassembler = Reassembler(protocol.decode('51-["x",{"_placeholder":true,"num":5}]'))
    with pytest.raises(PacketError, match="placeholder 5 names no attachment"):
        reassembler.add(b"only one")
