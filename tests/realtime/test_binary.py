"""Bytes in event and ack data: tagged ``{"$binary": "<base64>"}`` objects on the
wire, ``bytes`` for handlers and for the Python client, both directions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from switchboard.realtime import Hub, InvalidPayload, Session, wire

from .conftest import Serve, recv_until

pytestmark = pytest.mark.usefixtures("codec")  # each JSON library the wire can use


@dataclass
class Upload:
    name: str
    body: bytes


def binary_hub() -> Hub:
    hub = Hub()

    @hub.on("upload")
    def upload(session: Session, data: Upload) -> dict[str, Any]:
        return {"name": data.name, "size": len(data.body), "reversed": data.body[::-1]}

    @hub.on("echo")
    def echo(session: Session, data: Any) -> Any:
        return data

    @hub.on("enter")
    async def enter(session: Session, room: str) -> None:
        await session.join(room)

    @hub.on("push")
    async def push(session: Session, data: Any) -> None:
        await session.emit("pushed", {"blob": bytearray(b"\x00\x01"), "n": 1})

    return hub


def test_bytes_are_tagged_objects_and_back() -> None:
    data = {"a": b"\x00\xff", "b": [bytearray(b"hi"), memoryview(b"x")], "c": "text"}
    text = wire.dumps(data)
    assert text == '{"a":{"$binary":"AP8="},"b":[{"$binary":"aGk="},{"$binary":"eA=="}],"c":"text"}'
    message = wire.decode(f'{{"t":"emit","data":{text}}}', max_payload=1000, max_depth=8)
    assert message["data"] == {"a": b"\x00\xff", "b": [b"hi", b"x"], "c": "text"}


def test_only_objects_with_exactly_the_one_key_are_bytes() -> None:
    text = '{"t":"emit","data":[{"$binary":"AA==","x":1},{"$binary":5,"y":2},"$binary"]}'
    message = wire.decode(text, max_payload=1000, max_depth=8)
    assert message["data"] == [{"$binary": "AA==", "x": 1}, {"$binary": 5, "y": 2}, "$binary"]


@pytest.mark.parametrize("tag", ['"A!A="', '"AAA"', "5", "null"])
def test_bad_base64_names_the_field(tag: str) -> None:
    text = f'{{"t":"emit","id":3,"data":{{"files":[{{"$binary":{tag}}}]}}}}'
    with pytest.raises(wire.MessageError, match=r"^files\.0: a \"\$binary\" object") as caught:
        wire.decode(text, max_payload=1000, max_depth=8)
    assert (caught.value.code, caught.value.field) == ("invalid_payload", "files.0")
    assert caught.value.request is not None and caught.value.request["id"] == 3


def test_other_unknown_types_are_still_refused() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        wire.dumps({"s": {1}})


async def test_client_and_handler_exchange_bytes(serve_hub: Serve) -> None:
    served = await serve_hub(binary_hub())
    client = await served.client()
    ack = await client.emit("upload", {"name": "f.bin", "body": b"\x01\x02\x03"})
    assert ack == {"name": "f.bin", "size": 3, "reversed": b"\x03\x02\x01"}
    nested = {"list": [b"", b"\xff" * 1000], "deep": {"x": [{"y": b"z"}]}}
    assert await client.emit("echo", nested) == nested


async def test_session_emit_and_room_emit_carry_bytes(serve_hub: Serve) -> None:
    hub = binary_hub()
    served = await serve_hub(hub)
    client = await served.client()
    got: asyncio.Queue[Any] = asyncio.Queue()
    client.on("pushed")(lambda data, meta: got.put_nowait(data))
    client.on("room.blob")(lambda data, meta: got.put_nowait(data))
    await client.emit("push")
    assert await asyncio.wait_for(got.get(), 5) == {"blob": b"\x00\x01", "n": 1}
    await client.emit("enter", "r")
    await hub.to("r").emit("room.blob", [b"\x07", memoryview(b"ab")])
    assert await asyncio.wait_for(got.get(), 5) == [b"\x07", b"ab"]


async def test_a_bytes_field_refuses_other_values(serve_hub: Serve) -> None:
    served = await serve_hub(binary_hub())
    client = await served.client()
    with pytest.raises(InvalidPayload, match="body: expected bytes, got 'abc'") as caught:
        await client.emit("upload", {"name": "f", "body": "abc"})
    assert caught.value.field == "body"


async def test_bad_base64_from_a_client_is_an_error_ack(serve_hub: Serve) -> None:
    served = await serve_hub(binary_hub())
    ws = await served.raw()
    await ws.send('{"t":"emit","event":"echo","id":7,"data":{"f":[{"$binary":"%%"}]}}')
    ack = await recv_until(ws, "ack")
    assert ack["id"] == 7
    assert (ack["error"]["code"], ack["error"]["field"]) == ("invalid_payload", "f.0")
    assert ack["error"]["message"].startswith('f.0: a "$binary" object holds base64')
    await ws.send('{"t":"emit","event":"echo","id":8,"data":{"$binary":"AAE="}}')
    assert (await recv_until(ws, "ack"))["data"] == {"$binary": "AAE="}  # still served


async def test_the_python_client_gets_the_field_of_bad_base64(serve_hub: Serve) -> None:
    served = await serve_hub(binary_hub())
    client = await served.client()
    with pytest.raises(InvalidPayload, match=r'^x\.1: a "\$binary" object') as caught:
        await client.emit("echo", {"x": [1, {"$binary": "%%"}]})
    assert caught.value.field == "x.1"
