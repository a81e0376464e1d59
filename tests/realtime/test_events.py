"""Events with acknowledgements, both directions, and typed payloads on the wire."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import pytest

from switchboard.realtime import (
    AckTimeout,
    Disconnected,
    Hub,
    HubError,
    InvalidPayload,
    Rejected,
    Session,
)

from .conftest import Serve, recv_until

pytestmark = pytest.mark.usefixtures("codec")  # each JSON library the wire can use


@dataclass
class ChatIn:
    room: str
    text: str
    reply_to: int | None = None


def chat_hub() -> Hub:
    hub = Hub()

    @hub.on("chat.send")
    async def send(session: Session, data: ChatIn) -> dict[str, object]:
        if data.text == "no":
            raise Rejected("not allowed here", details={"why": "policy"})
        if data.text == "boom":
            raise RuntimeError("secret database password in this message")
        return {"ok": True, "echo": data.text, "reply_to": data.reply_to}

    @hub.on("whoami")
    def whoami(session: Session) -> str:
        return session.user.id

    return hub


async def test_the_return_value_is_the_ack(serve_hub: Serve) -> None:
    served = await serve_hub(chat_hub())
    client = await served.client()
    ack = await client.emit("chat.send", {"room": "a", "text": "hi"})
    assert ack == {"ok": True, "echo": "hi", "reply_to": None}
    assert await client.emit("whoami") == client.session_id  # anonymous: its own user


async def test_typed_errors_name_what_was_wrong(serve_hub: Serve) -> None:
    served = await serve_hub(chat_hub())
    client = await served.client()
    with pytest.raises(InvalidPayload) as invalid:
        await client.emit("chat.send", {"room": "a", "text": 42})
    assert invalid.value.field == "text"
    assert "expected a string, got 42" in str(invalid.value)
    with pytest.raises(InvalidPayload) as missing:
        await client.emit("chat.send", {"room": "a"})
    assert (missing.value.field, missing.value.message) == ("text", "text: missing field")
    with pytest.raises(InvalidPayload) as extra:
        await client.emit("chat.send", {"room": "a", "text": "x", "admin": True})
    assert extra.value.field == "admin"
    with pytest.raises(Rejected) as rejected:
        await client.emit("chat.send", {"room": "a", "text": "no"})
    assert rejected.value.message == "not allowed here"
    assert rejected.value.details == {"why": "policy"}
    with pytest.raises(HubError) as unknown:
        await client.emit("nope")
    assert unknown.value.code == "unknown_event"


async def test_a_failing_handler_leaks_nothing(
    serve_hub: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve_hub(chat_hub())
    client = await served.client()
    with caplog.at_level(logging.ERROR, "switchboard.realtime"):
        with pytest.raises(HubError) as failed:
            await client.emit("chat.send", {"room": "a", "text": "boom"})
    assert failed.value.code == "internal"
    assert "password" not in failed.value.message
    assert any("password" in r.getMessage() or r.exc_info for r in caplog.records)
    assert await client.emit("chat.send", {"room": "a", "text": "still here"})


async def test_many_emits_in_flight_are_answered_by_id(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on("slow")
    async def slow(session: Session, data: int) -> int:
        await asyncio.sleep(0.001 * (data % 5))
        return data * 2

    served = await serve_hub(hub)
    client = await served.client()
    results = await asyncio.gather(*(client.emit("slow", i) for i in range(50)))
    assert results == [i * 2 for i in range(50)]


async def test_handlers_run_in_the_order_events_came(serve_hub: Serve) -> None:
    hub = Hub()
    seen: list[int] = []

    @hub.on("step")
    async def step(session: Session, data: int) -> None:
        await asyncio.sleep(0.01 if data == 0 else 0)  # the first one is the slowest
        seen.append(data)

    served = await serve_hub(hub)
    client = await served.client()
    await asyncio.gather(*(client.emit("step", i) for i in range(5)))
    assert seen == [0, 1, 2, 3, 4]


async def test_a_handler_runs_in_its_sessions_task_even_when_started_eagerly(
    serve_hub: Serve,
) -> None:
    # A request that arrives while the session is idle starts in the read callback
    # (no task switch); it must still see its session's task, so asyncio.timeout(),
    # wait_for() and cancellation work, and a handler that waits finishes in order.
    hub = Hub()
    tasks: list[asyncio.Task[object] | None] = []
    seen: list[str] = []

    @hub.on("where")
    async def where(session: Session, data: str) -> str:
        tasks.append(asyncio.current_task())
        if data == "wait":
            await asyncio.wait_for(asyncio.sleep(0.01), 1)
            await asyncio.sleep(0)  # a bare yield as well as a future
        if data == "timeout":
            try:
                await asyncio.wait_for(asyncio.Event().wait(), 0.01)
            except asyncio.TimeoutError:
                data = "timed out"
        seen.append(data)
        return data

    served = await serve_hub(hub)
    client = await served.client()
    assert await client.emit("where", "now") == "now"
    assert await client.emit("where", "wait") == "wait"
    assert await client.emit("where", "timeout") == "timed out"
    results = await asyncio.gather(*(client.emit("where", w) for w in ["wait", "a", "b"]))
    assert results == ["wait", "a", "b"]
    assert seen == ["now", "wait", "timed out", "wait", "a", "b"]
    assert None not in tasks and len(set(tasks)) == 1  # one session, one task


async def test_app_events_may_be_named_like_room_requests(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.on("join")
    def join(session: Session, data: str) -> str:
        return f"event join {data}"

    @hub.on("leave")
    async def leave(session: Session, data: str) -> str:
        await asyncio.sleep(0)
        return f"event leave {data}"

    served = await serve_hub(hub)
    client = await served.client()
    assert await client.emit("join", "x") == "event join x"
    assert await client.emit("leave", "y") == "event leave y"
    assert not client.rooms  # no room request was made


async def test_server_calls_the_client(serve_hub: Serve) -> None:
    hub = Hub()
    sessions: list[Session] = []

    @hub.on("ready")
    def ready(session: Session) -> None:
        sessions.append(session)

    served = await serve_hub(hub)
    client = await served.client()

    @client.handle("confirm")
    async def confirm(data: dict[str, str]) -> str:
        return f"yes to {data['question']}"

    @client.handle("refuse")
    def refuse(data: object) -> None:
        raise Rejected("I refuse")

    await client.emit("ready")
    session = sessions[0]
    assert await session.call("confirm", {"question": "leave?"}) == "yes to leave?"
    many = await asyncio.gather(*(session.call("confirm", {"question": str(i)}) for i in range(20)))
    assert many == [f"yes to {i}" for i in range(20)]
    with pytest.raises(Rejected, match="I refuse"):
        await session.call("refuse")
    with pytest.raises(HubError) as unknown:
        await session.call("unheard-of")
    assert unknown.value.code == "unknown_event"


async def test_a_call_nobody_answers_times_out(serve_hub: Serve) -> None:
    hub = Hub()
    served = await serve_hub(hub)
    ws = await served.raw()  # a raw client that never answers calls
    await asyncio.sleep(0.05)
    (session,) = hub.sessions
    with pytest.raises(AckTimeout, match=r"within 0\.1 s"):
        await session.call("confirm", None, timeout=0.1)
    call = await recv_until(ws, "call")
    await ws.send(json.dumps({"t": "ack", "id": call["id"], "data": "late"}))  # ignored
    await ws.send(json.dumps({"t": "emit", "event": "x", "id": 1}))
    assert (await recv_until(ws, "ack"))["error"]["code"] == "unknown_event"


async def test_an_ack_the_client_times_out_on(serve_hub: Serve) -> None:
    hub = Hub()
    release = asyncio.Event()

    @hub.on("wait")
    async def wait(session: Session) -> str:
        await release.wait()
        return "done"

    served = await serve_hub(hub)
    client = await served.client()
    with pytest.raises(AckTimeout):
        await client.emit("wait", timeout=0.05)
    release.set()  # the late ack of the first emit is ignored; the next one is answered
    assert await client.emit("wait") == "done"


async def test_emit_targets(serve_hub: Serve) -> None:
    hub = Hub()

    @hub.authorize_join
    def anyone(session: Session, room: str) -> bool:
        return True

    @hub.on("say")
    async def say(session: Session, data: dict[str, str]) -> None:
        where = data["to"]
        if where == "room":
            await hub.to("a").emit("said", data["text"], skip=session)
        elif where == "rooms":
            await hub.to("a", ["b"]).emit("said", data["text"])
        elif where == "all":
            await hub.emit("said", data["text"])
        elif where == "me":
            await session.emit("said", data["text"])

    served = await serve_hub(hub)
    a, b, c = [await served.client() for _ in range(3)]
    inbox: dict[str, list[tuple[str, str | None]]] = {"a": [], "b": [], "c": []}
    for name, client in zip("abc", (a, b, c), strict=True):
        client.on("said")(lambda data, meta, name=name: inbox[name].append((data, meta.room)))
    await a.join("a")
    await b.join("a")
    await b.join("b")
    await c.join("b")
    await a.emit("say", {"to": "room", "text": "1"})  # skips a
    await a.emit("say", {"to": "rooms", "text": "2"})  # b twice: once per room
    await a.emit("say", {"to": "all", "text": "3"})
    await a.emit("say", {"to": "me", "text": "4"})
    await c.emit("say", {"to": "me", "text": "sync"})
    await asyncio.sleep(0.1)
    assert inbox["a"] == [("2", "a"), ("3", None), ("4", None)]
    assert inbox["b"] == [("1", "a"), ("2", "a"), ("2", "b"), ("3", None)]
    assert inbox["c"] == [("2", "b"), ("3", None), ("sync", None)]


def test_only_the_data_annotation_is_resolved() -> None:
    """A session annotation naming something not importable at module level is fine;
    an unresolvable data annotation is a clear error at registration."""
    hub = Hub()
    namespace: dict[str, object] = {}
    exec(
        "from __future__ import annotations\n"
        "def ok(session: NotImported, data: int) -> int:\n    return data\n"
        "def bad(session, data: Missing) -> None:\n    pass\n",
        namespace,
    )
    hub.on("ok")(namespace["ok"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot resolve data: Missing of handler 'bad'"):
        hub.on("bad")(namespace["bad"])  # type: ignore[arg-type]


async def test_a_call_in_flight_when_the_client_leaves_raises_disconnected(
    serve_hub: Serve,
) -> None:
    hub = Hub()
    served = await serve_hub(hub)
    ws = await served.raw()  # never answers the call
    await asyncio.sleep(0.05)
    (session,) = hub.sessions
    pending = asyncio.ensure_future(session.call("confirm", None, timeout=5))
    await recv_until(ws, "call")
    await ws.close()
    with pytest.raises(Disconnected):
        await pending


def step_implementations() -> list[object]:
    """The session's ``step`` (a request's first run, in the read callback): the C
    extension's, when built, and the pure-Python one."""
    from switchboard.realtime import session

    params = [pytest.param(session._step_python, id="python")]
    try:
        from switchboard._speedups import step
    except ImportError:
        return params
    return [*params, pytest.param(step, id="c")]


@pytest.mark.parametrize("step", step_implementations())
def test_step_runs_a_coroutine_to_its_first_wait(step: object) -> None:
    class Waits:
        def __await__(self):  # type: ignore[no-untyped-def]
            return (yield "waiting on this")

    async def returns() -> str:
        return "done"

    async def waits() -> str:
        return await Waits()

    async def fails() -> None:
        raise KeyError("wrong")

    assert step(returns()) == (True, "done")  # type: ignore[operator]
    coroutine = waits()
    assert step(coroutine) == (False, "waiting on this")  # type: ignore[operator]
    with pytest.raises(StopIteration):  # the rest of it runs as usual
        coroutine.send("answer")
    with pytest.raises(KeyError, match="wrong"):
        step(fails())  # type: ignore[operator]
