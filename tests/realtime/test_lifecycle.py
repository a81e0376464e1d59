"""Connecting, identity, refusal, disconnect reasons, client states, metrics."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from switchboard.realtime import Hello, Hub, HubError, Identity, Session, Unauthorized

from .conftest import Serve, eventually


def auth_hub() -> Hub:
    hub = Hub()

    @hub.on_connect
    async def identify(hello: Hello) -> Identity:
        token = (hello.auth or {}).get("token")
        if token != "good":
            raise Unauthorized("bad token")
        return Identity("ada", {"name": "Ada"}, rooms=("user:ada",))

    return hub


async def test_refusal_is_4401_and_the_client_does_not_retry(serve_hub: Serve) -> None:
    served = await serve_hub(auth_hub())
    with pytest.raises(Unauthorized, match="bad token"):
        await served.client(auth={"token": "bad"})
    client = await served.client(auth={"token": "good"})
    assert client.user == {"id": "ada", "info": {"name": "Ada"}}
    await eventually(lambda: "user:ada" in client.rooms)  # joined by on_connect's Identity


async def test_auth_may_come_from_the_handshake_request(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        return Identity(hello.request.query_params["name"][0])

    @hub.on("me")
    def me(session: Session) -> str:
        return session.user.id

    served = await serve_hub(hub)
    served.url += "?name=bob"
    client = await served.client()
    assert await client.emit("me") == "bob"


async def test_a_failing_on_connect_is_1011_without_details(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        raise RuntimeError("db down")

    served = await serve_hub(hub)
    ws = await served.raw(hello=False)  # type: ignore[arg-type]
    await ws.send('{"t":"hello","v":1}')
    await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1011, "internal error")


async def test_kicked_clients_fail_others_reconnect(serve_hub: Serve) -> None:
    hub = Hub()
    reasons: list[str] = []

    @hub.on_disconnect
    def gone(session: Session, reason: str) -> None:
        reasons.append(reason)

    served = await serve_hub(hub)
    states: list[str] = []
    client = await served.client()
    client.on_state(states.append)
    (session,) = hub.sessions
    await session.close(1012, "restart")
    await client.wait_for_state("connected")
    assert states[:2] == ["reconnecting", "connected"]
    (session,) = hub.sessions
    await session.close(4403, "kicked")
    await client.wait_for_state("failed")
    assert client.close_info == (4403, "kicked")
    with pytest.raises(HubError):
        await client.emit("anything")
    await eventually(lambda: len(reasons) == 2)
    assert reasons == ["closed by the server: 1012 restart", "closed by the server: 4403 kicked"]
    await (await served.client()).close()
    await eventually(lambda: len(reasons) == 3)
    assert reasons[2] == "closed by the client: 1000 client closed"


async def test_client_joins_need_authorize_join(serve_hub: Serve) -> None:
    hub = Hub()
    served = await serve_hub(hub)
    client = await served.client()
    with pytest.raises(HubError) as refused:
        await client.join("secret")
    assert refused.value.code == "not_allowed"

    @hub.authorize_join
    async def only_public(session: Session, room: str) -> bool:
        return room.startswith("public:")

    assert (await client.join("public:lobby"))["room"] == "public:lobby"
    with pytest.raises(HubError):
        await client.join("secret")
    await client.leave("public:lobby")
    assert client.rooms == {}


async def test_emit_to_all_connections_of_a_user(serve_hub: Serve) -> None:
    hub = auth_hub()

    @hub.on("notify")
    async def notify(session: Session, text: str) -> None:
        await hub.to_user(session.user.id).emit("note", text)

    served = await serve_hub(hub)
    tabs = [await served.client(auth={"token": "good"}) for _ in range(2)]
    notes: list[str] = []
    for tab in tabs:
        tab.on("note")(lambda data, meta: notes.append(data))
    await tabs[0].emit("notify", "hello")
    await eventually(lambda: len(notes) == 2)


async def test_metrics_are_in_the_server_metrics(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on("x")
    def x(session: Session) -> None:
        pass

    served = await serve_hub(hub)
    client = await served.client()
    await client.emit("x")
    await client.emit("x")
    for name in ("nope-1", "nope-2"):  # a client's names: counted as errors, not by name
        with pytest.raises(HubError, match="no handler"):
            await client.emit(name)
    url = f"http://127.0.0.1:{served.server.port}/metrics"
    text = (await asyncio.to_thread(lambda: urllib.request.urlopen(url).read())).decode()
    assert 'switchboard_realtime_sessions{hub="hub"} 1' in text
    assert 'switchboard_realtime_events_in_total{hub="hub",event="x"} 2' in text
    assert "nope" not in text
    assert 'switchboard_realtime_errors_total{hub="hub",code="unknown_event"} 2' in text
    assert 'switchboard_realtime_ack_seconds_count{hub="hub"} 4' in text  # error acks too
    assert "switchboard_realtime_recoveries_total" in text


async def test_the_browser_client_is_served(serve_hub: Serve) -> None:
    served = await serve_hub(Hub())
    base = f"http://127.0.0.1:{served.server.port}/rt"
    js = await asyncio.to_thread(lambda: urllib.request.urlopen(base + "/client.js"))
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert b"export function connect" in js.read()
    types = await asyncio.to_thread(lambda: urllib.request.urlopen(base + "/client.d.ts"))
    assert types.headers["Content-Type"].startswith("application/typescript")


async def test_a_welcome_room_that_cannot_be_joined_is_said_left(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        return Identity("ada", rooms=("fine", "bad\x00name"))

    served = await serve_hub(hub)
    client = await served.client()  # returns: it does not wait for the room that failed
    assert set(client.rooms) == {"fine"}
