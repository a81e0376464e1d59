"""Limits and abuse: sizes, depth, rooms, rate limits, floods of garbage."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

import switchboard
from switchboard.realtime import Hub, HubError, Rate, RateLimited, Session

from .conftest import Serve, recv_until

pytestmark = pytest.mark.usefixtures("codec")  # each JSON library the wire can use


async def test_rate_limit_error_ack_then_close(serve_hub: Serve) -> None:
    hub = Hub(rate=Rate(per_second=1, burst=3))

    @hub.on("ping")
    def ping(session: Session) -> str:
        return "pong"

    served = await serve_hub(hub)
    ws = await served.raw()
    for i in range(3):
        await ws.send(json.dumps({"t": "emit", "event": "ping", "id": i}))
        assert (await recv_until(ws, "ack"))["data"] == "pong"
    await ws.send(json.dumps({"t": "emit", "event": "ping", "id": 9}))
    limited = await recv_until(ws, "ack")
    assert limited["error"]["code"] == "rate_limited"
    assert 0 < limited["error"]["retry_after"] <= 1
    for i in range(10):  # keeps going after being told
        await ws.send(json.dumps({"t": "emit", "event": "ping", "id": 10 + i}))
    await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1008, "rate limit exceeded")


async def test_per_event_rates(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on("vote", rate=Rate(per_second=0.5, burst=1))
    def vote(session: Session) -> None:
        pass

    @hub.on("chat")
    def chat(session: Session) -> None:
        pass

    served = await serve_hub(hub)
    client = await served.client()
    await client.emit("vote")
    with pytest.raises(RateLimited) as limited:
        await client.emit("vote")
    assert limited.value.retry_after > 1
    await client.emit("chat")  # other events are not affected


async def test_sizes_depth_and_rooms(serve_hub: Serve) -> None:
    hub = Hub(max_payload=1000, max_depth=5, max_rooms=2)

    @hub.authorize_join
    def anyone(session: Session, room: str) -> bool:
        return True

    @hub.on("x")
    def x(session: Session, data: object) -> None:
        pass

    served = await serve_hub(hub)
    ws = await served.raw()
    await ws.send(json.dumps({"t": "emit", "event": "x", "id": 1, "data": "a" * 2000}))
    error = await recv_until(ws, "error")  # too large to read the id from
    assert error["code"] == "too_large"
    nested: object = 1
    for _ in range(10):
        nested = [nested]
    await ws.send(json.dumps({"t": "emit", "event": "x", "id": 2, "data": nested}))
    assert (await recv_until(ws, "error"))["code"] == "too_large"
    await ws.send("[" * 100_000)  # deeper than the JSON parser's recursion limit
    assert (await recv_until(ws, "error"))["code"] in ("too_large", "bad_message")
    for i, room in enumerate(["a", "b", "c"]):
        await ws.send(json.dumps({"t": "join", "room": room, "id": 10 + i}))
    acks = [await recv_until(ws, "ack") for _ in range(3)]
    assert [a.get("error", {}).get("code") for a in acks] == [None, None, "too_many_rooms"]


async def test_garbage_gets_errors_and_the_connection_survives(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on("ok")
    def ok(session: Session) -> str:
        return "fine"

    served = await serve_hub(hub)
    ws = await served.raw()
    bad = [
        "not json",
        "42",
        '{"no": "type"}',
        '{"t": "teleport"}',
        '{"t": "emit"}',
        '{"t": "emit", "event": 5, "id": 3}',
        '{"t": "emit", "event": "ok", "id": "one"}',
        '{"t": "emit", "event": "ok", "id": 1.5}',
        '{"t": "emit", "event": "ok", "id": 4, "key": 7}',
        '{"t": "join", "room": "", "id": 5}',
        '{"t": "join", "room": "a\\u0000b", "id": 6}',
        '{"t": "hello", "v": 1}',
        '{"t": "ack", "id": 999, "data": 1}',  # an ack for no call: ignored
    ]
    for frame in bad:
        await ws.send(frame)
    await ws.send(b"\x00binary")
    await ws.send('{"t": "emit", "event": "ok", "id": 100}')
    replies = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message["t"] == "ack" and message["id"] == 100:
            break
        replies.append(message)
    assert message["data"] == "fine"
    # Every bad frame got an answer (but the stray ack): an error ack where its id
    # could be read, an error message otherwise; each names the problem.
    assert len(replies) == len(bad)  # len(bad) - 1 stray ack + 1 binary frame
    assert all(r["t"] in ("error", "ack") for r in replies)
    codes = [r["code"] if r["t"] == "error" else r["error"]["code"] for r in replies]
    assert set(codes) == {"bad_message"}
    assert [r["id"] for r in replies if r["t"] == "ack"] == [3, 4, 5, 6]
    assert ws.state.name == "OPEN"


async def test_text_json_reads_but_utf8_cannot_carry_is_refused(
    serve_hub: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """Half a surrogate pair, or NaN, would be echoed into a frame that cannot be
    sent (no UTF-8 for it; NaN is not JSON): refused as it arrives, not at the reply."""
    hub = Hub()

    @hub.on("echo")
    def echo(session: Session, data: object) -> object:
        return data

    served = await serve_hub(hub)
    ws = await served.raw()
    for data in ('"\\ud800"', '"x\\uDC00"', "NaN", "-Infinity"):
        await ws.send(f'{{"t": "emit", "event": "echo", "id": 1, "data": {data}}}')
        error = await recv_until(ws, "error")
        assert error["code"] == "bad_message" and "not JSON" in error["message"], error
    await ws.send('{"t": "emit", "event": "echo", "id": 2, "data": "\\ud83d\\ude00"}')
    assert (await recv_until(ws, "ack"))["data"] == "\N{GRINNING FACE}"
    assert ws.state.name == "OPEN"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_garbage_flood_is_closed(serve_hub: Serve) -> None:
    served = await serve_hub(Hub(rate=Rate(per_second=10, burst=20)))
    ws = await served.raw()
    for _ in range(200):
        try:
            await ws.send("garbage")
        except switchboard.ConnectionClosed:
            break
    with pytest.raises(switchboard.ConnectionClosed):
        while True:  # read the error replies, then the close frame
            await asyncio.wait_for(ws.recv(), 5)
    await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1008, "rate limit exceeded")


async def test_bad_hellos_are_refused_with_4400(serve_hub: Serve) -> None:
    served = await serve_hub(Hub())
    for hello in ['{"t": "emit"}', '{"t": "hello", "v": 2}', "nope", b"\x01"]:
        ws = await served.raw(hello=False)  # type: ignore[arg-type]
        await ws.send(hello)
        await ws.wait_closed()
        assert ws.close_code == 4400, hello
        assert ws.close_reason is not None and ws.close_reason.startswith("protocol error")


async def test_no_hello_in_time(serve_hub: Serve) -> None:
    served = await serve_hub(Hub(hello_timeout=0.1))
    ws = await served.raw(hello=False)  # type: ignore[arg-type]
    await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (4508, "no hello within 0.1 s")


async def test_the_subprotocol_is_required(serve_hub: Serve) -> None:
    served = await serve_hub(Hub())
    with pytest.raises(switchboard.InvalidHandshake) as refused:
        await switchboard.connect(served.url)
    assert refused.value.status == 400
    assert b"switchboard.v1" in refused.value.body


async def test_a_silent_client_is_closed_by_the_heartbeat(
    serve_hub: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve_hub(Hub(heartbeat=0.05, heartbeat_timeout=0.05))
    ws = await served.raw()  # never answers pings
    with caplog.at_level(logging.INFO, "switchboard.realtime"):
        await asyncio.wait_for(ws.wait_closed(), 5)
    assert (ws.close_code, ws.close_reason) == (4508, "heartbeat timeout")
    client = await served.client()  # the Python client answers: it stays
    await asyncio.sleep(0.3)
    assert client.state == "connected"


async def test_refusals_of_any_kind_lead_to_the_close(serve_hub: Serve) -> None:
    """A per-event limit, and joins, count toward the 1008 close like the hub's limit."""
    hub = Hub(rate=None, rate_limit_close_after=5)

    @hub.on("vote", rate=Rate(per_second=0.1, burst=1))
    def vote(session: Session) -> None:
        pass

    served = await serve_hub(hub)
    ws = await served.raw()
    for i in range(20):
        await ws.send(json.dumps({"t": "emit", "event": "vote", "id": i}))
    with pytest.raises(switchboard.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert (ws.close_code, ws.close_reason) == (1008, "rate limit exceeded")

    hub2 = Hub(rate=Rate(per_second=1, burst=3))

    @hub2.authorize_join
    def anyone(session: Session, room: str) -> bool:
        return True

    served2 = await serve_hub(hub2)
    ws2 = await served2.raw()
    for i in range(5):
        await ws2.send(json.dumps({"t": "join", "room": f"r{i}", "id": i}))
    acks = sorted([await recv_until(ws2, "ack") for _ in range(5)], key=lambda a: a["id"])
    codes = [a.get("error", {}).get("code") for a in acks]
    assert codes == [None, None, None, "rate_limited", "rate_limited"]


async def test_max_payload_counts_utf8_bytes(serve_hub: Serve) -> None:
    hub = Hub(max_payload=1000)

    @hub.on("x")
    def x(session: Session, data: str) -> int:
        return len(data)

    served = await serve_hub(hub)
    ws = await served.raw()
    await ws.send(
        json.dumps({"t": "emit", "event": "x", "id": 1, "data": "é" * 600}, ensure_ascii=False)
    )
    error = await recv_until(ws, "error")
    assert error["code"] == "too_large" and "bytes" in error["message"]
    client = await served.client()
    assert await client.emit("x", "a" * 600) == 600
    with pytest.raises(HubError) as too_large:  # refused by the client, before sending
        await client.emit("x", "é" * 600)
    assert too_large.value.code == "too_large"
