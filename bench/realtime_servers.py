"""Real-time benchmark servers, one per process, run by bench/realtime.py.

    python bench/realtime_servers.py NAME [REDIS_URL]

NAME is one of SERVERS below (Node's socket.io is ``node bench/node/server.js``,
with the same contract). The ``-redis`` variants (bench/realtime_redis.py runs two
of each on one Redis) take the Redis URL: Switchboard's hub with a
``RedisBroker``, python-socketio with ``AsyncRedisManager`` (Node's is
``node bench/node/server.js REDIS_URL``, with ``@socket.io/redis-adapter``).

The server listens on 127.0.0.1 on a free port, prints ``PORT <n>`` when ready,
and exits when stdin closes (so it never outlives realtime.py, even if
realtime.py is killed) or on SIGTERM. Every server runs on
uvloop, without compression (the load generator offers none).

Every server implements the same app:

* on connect, the connection joins the room ``"bench"``;
* event ``"fanout"``: emit ``"tick"`` with the event's data to the room ``"bench"``
  (the sender is a member too, so it gets its own tick);
* event ``"echo"``: the ack is the event's data.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from servers import raise_fd_limit, serve_until_stopped

HOST = "127.0.0.1"
BACKLOG = 2048  # the load generator connects 100 clients at a time
ROOM = "bench"


def redis_url() -> str:
    """The Redis URL of a ``-redis`` variant: its second argument."""
    if len(sys.argv) < 3 or not sys.argv[2].startswith("redis://"):
        raise SystemExit(f"{sys.argv[1]} needs a Redis URL: realtime_servers.py NAME redis://...")
    return sys.argv[2]


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(BACKLOG)
    return sock


async def switchboard_server() -> int:
    """Switchboard's hub on its own server (see :func:`switchboard_router`)."""
    import switchboard

    router = switchboard_router()
    server = await switchboard.serve(router, HOST, 0, compression=None, backlog=BACKLOG)
    return int(server.port)


def switchboard_router() -> Any:
    """Switchboard's hub, mounted on a Router at /rt (subprotocol switchboard.v1).

    ``switchboard``: the same app as the peers, so rooms without history or presence
    (socket.io rooms have neither) and no rate limit (neither has one).
    ``switchboard-json``: the same, with the standard library's json instead of
    orjson (the ``orjson`` extra; ``switchboard`` uses it when installed).
    ``switchboard-full``: the hub's default rooms (history of 100 for recovery,
    presence), still without the rate limit (50 events/s would throttle the load).
    """
    import itertools

    import switchboard
    from switchboard.realtime import Hub, Identity, RoomOptions

    name = sys.argv[1]
    full = name in ("switchboard-full", "switchboard-redis-full")
    rooms = RoomOptions() if full else RoomOptions(0, presence=False)
    if name.startswith("switchboard-redis"):
        from switchboard.realtime import RedisBroker

        hub = Hub(rate=None, rooms=rooms, broker=RedisBroker(redis_url()))
        prefix = f"n{os.getpid()}-"  # the user ids of each node are its own
    else:
        hub = Hub(rate=None, rooms=rooms)
        prefix = ""
    ids = itertools.count(1)
    # Annotations name module-level types only: the hub resolves them (PEP 563).

    @hub.on_connect
    async def connect(hello: Any) -> Any:
        return Identity(f"{prefix}u{next(ids)}", rooms=(ROOM,))  # anonymous, one user each

    @hub.on("fanout")
    async def fanout(session: Any, data: Any) -> None:
        await hub.to(ROOM).emit("tick", data)

    @hub.on("echo")
    async def echo(session: Any, data: Any) -> Any:
        return data

    router = switchboard.Router()
    router.mount("/rt", hub)
    return router


def socketio_app() -> Any:
    """python-socketio's AsyncServer with the bench app (its default options: async
    handlers, the standard json module)."""
    import socketio

    mode = "aiohttp" if sys.argv[1].startswith("socketio-aiohttp") else "asgi"
    if sys.argv[1].endswith("-redis"):  # the nodes share rooms through Redis pub/sub
        manager = socketio.AsyncRedisManager(redis_url())
        sio = socketio.AsyncServer(
            async_mode=mode, transports=["websocket"], client_manager=manager
        )
    else:
        sio = socketio.AsyncServer(async_mode=mode, transports=["websocket"])

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        await sio.enter_room(sid, ROOM)

    @sio.on("fanout")
    async def fanout(sid: str, data: Any) -> None:
        await sio.emit("tick", data, room=ROOM)

    @sio.on("echo")
    async def echo(sid: str, data: Any) -> Any:
        return data

    return sio


async def socketio_aiohttp_server() -> int:
    """python-socketio on aiohttp (its fastest server in our runs)."""
    from aiohttp import web

    app = web.Application()
    socketio_app().attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = listening_socket()
    await web.SockSite(runner, sock, backlog=BACKLOG).start()
    return int(sock.getsockname()[1])


_uvicorn: list[Any] = []  # keeps the server and its task alive


async def socketio_uvicorn_server() -> int:
    """python-socketio as an ASGI app on uvicorn (uvloop, httptools, websockets)."""
    import socketio
    import uvicorn

    app = socketio.ASGIApp(socketio_app())
    ws = os.environ.get("BENCH_UVICORN_WS", "websockets")
    config = uvicorn.Config(
        app,
        loop="none",  # we are already on uvloop
        http="httptools",
        ws=ws,
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=BACKLOG,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    sock = listening_socket()
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    _uvicorn.extend([server, task])
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.01)
    return int(sock.getsockname()[1])


SERVERS: dict[str, Callable[[], Awaitable[int]]] = {
    "switchboard": switchboard_server,
    "switchboard-json": switchboard_server,
    "switchboard-full": switchboard_server,
    "socketio-aiohttp": socketio_aiohttp_server,
    "socketio-uvicorn": socketio_uvicorn_server,
    # Two nodes of each on one Redis, for bench/realtime_redis.py:
    "switchboard-redis": switchboard_server,
    "switchboard-redis-full": switchboard_server,
    "socketio-aiohttp-redis": socketio_aiohttp_server,
}


async def main(name: str) -> None:
    await serve_until_stopped(SERVERS[name])


def run(name: str) -> None:
    import uvloop

    raise_fd_limit()
    uvloop.run(main(name))


if __name__ == "__main__":
    if sys.argv[1:2] == ["switchboard-json"]:  # the hub without the orjson extra
        sys.modules["orjson"] = None  # type: ignore[assignment]  # import orjson fails
    redis_variant = len(sys.argv) > 1 and sys.argv[1].endswith(("-redis", "-redis-full"))
    if len(sys.argv) != 2 + redis_variant or sys.argv[1] not in SERVERS:
        raise SystemExit(__doc__)
    profile_to = os.environ.get("BENCH_PROFILE")  # cProfile the server, for --profile
    if profile_to:
        import cProfile

        cProfile.run("run(sys.argv[1])", profile_to)
    else:
        run(sys.argv[1])
