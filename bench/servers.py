"""Benchmark servers: one echo or broadcast server per process, run by bench/run.py.

    python bench/servers.py NAME MODE LOOP

NAME is switchboard, switchboard-zlib, websockets, aiohttp or picows; MODE is echo, deflate or
broadcast; LOOP is uvloop or asyncio (bench/node/ws_server.js is Node's ``ws`` with
the same contract). The server listens on 127.0.0.1 on a free port, prints
``PORT <n>`` when ready, and exits when stdin closes (so it never outlives
run.py, even if run.py is killed) or on SIGTERM.

All servers run without a message size limit. Echo and broadcast mode run without
compression; deflate mode is echo with permessage-deflate on, with the library's
default settings for it (picows has no permessage-deflate, aiohttp no broadcast).
switchboard-zlib is switchboard compressing with the standard library's zlib even
when the zlib-ng extra is installed (deflate mode only), for the figure without it.

Broadcast mode: every connection is a receiver until it sends the text "go"; that
connection becomes the controller (it is removed from the receivers) and each "go"
broadcasts a 32-byte text message to all receivers. The message carries the
server's ``time.monotonic_ns()`` at the broadcast call, so the client (same
machine, same clock) measures from the call to the last delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

HOST = "127.0.0.1"
MESSAGE_SIZE = 32  # bytes of the broadcast message


def stamp() -> str:
    """The broadcast message: the call time, padded to MESSAGE_SIZE."""
    return str(time.monotonic_ns()).ljust(MESSAGE_SIZE)


def handler(
    mode: str, broadcast: Callable[[Any, str], object], receivers: Any
) -> Callable[[Any], Any]:
    """The echo or fanout handler for switchboard and websockets, which share the API
    it needs (``async for``, ``send``, a synchronous ``broadcast``, a set-like
    ``receivers`` with ``add`` and ``discard``): one code for both."""

    async def echo(ws: Any) -> None:
        async for m in ws:
            await ws.send(m)

    async def fanout(ws: Any) -> None:
        receivers.add(ws)
        try:
            async for m in ws:
                if m == "go":
                    receivers.discard(ws)
                    broadcast(receivers, stamp())
        finally:
            receivers.discard(ws)

    return fanout if mode == "broadcast" else echo


async def switchboard_server(mode: str) -> int:
    import switchboard
    from switchboard import Group, broadcast

    limits = switchboard.Limits(max_message_size=None, max_frame_size=None)
    compression = switchboard.DeflateOptions() if mode == "deflate" else None
    server = await switchboard.serve(
        handler(mode, broadcast, Group()),
        HOST,
        0,
        compression=compression,
        limits=limits,
        backlog=2048,
    )
    return server.port


async def switchboard_zlib_server(mode: str) -> int:
    import zlib

    from switchboard.protocol import deflate

    if mode != "deflate":
        raise SystemExit("switchboard-zlib: deflate mode only (the other modes don't compress)")
    deflate._deflate = zlib  # what compresses when zlib-ng is not installed
    return await switchboard_server(mode)


async def websockets_server(mode: str) -> int:
    from websockets.asyncio.server import broadcast, serve

    compression = "deflate" if mode == "deflate" else None
    server = await serve(
        handler(mode, broadcast, set()),
        HOST,
        0,
        compression=compression,
        max_size=None,
        backlog=2048,
    )
    return int(server.sockets[0].getsockname()[1])


async def aiohttp_echo_server(**options: Any) -> int:
    """An aiohttp echo server on HOST, a free port; options go to WebSocketResponse."""
    from aiohttp import WSMsgType, web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(**options)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind((HOST, 0))
    await web.SockSite(runner, sock, backlog=2048).start()
    return int(sock.getsockname()[1])


async def aiohttp_server(mode: str) -> int:
    if mode == "broadcast":
        raise SystemExit("aiohttp: no broadcast mode (it has no synchronous broadcast)")
    return await aiohttp_echo_server(compress=mode == "deflate", max_msg_size=0)


async def picows_server(mode: str) -> int:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    if mode == "deflate":
        raise SystemExit("picows: no deflate mode (it has no permessage-deflate)")
    receivers: set[WSTransport] = set()

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())

    class Fanout(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            receivers.add(transport)

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            receivers.discard(transport)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"go":
                receivers.discard(transport)
                payload = stamp().encode()
                for t in receivers:  # the picows way: one send per transport
                    t.send(WSMsgType.TEXT, payload)

    listener = Echo if mode == "echo" else Fanout
    server = await ws_create_server(
        lambda request: listener(), HOST, 0, max_frame_size=1 << 30, backlog=2048
    )
    return int(server.sockets[0].getsockname()[1])


SERVERS: dict[str, Callable[[str], Awaitable[int]]] = {
    "switchboard": switchboard_server,
    "switchboard-zlib": switchboard_zlib_server,
    "websockets": websockets_server,
    "aiohttp": aiohttp_server,
    "picows": picows_server,
}


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def serve_until_stopped(start: Callable[[], Awaitable[int]]) -> None:
    """Start a server, print ``PORT <port>``, and serve until SIGTERM or until the
    parent (run.py, realtime.py) goes away."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.cancel)

    # Exit when the parent goes away: it holds our stdin open for our whole life.
    # os.read, not sys.stdin: a daemon thread blocked in a buffered read holds its
    # lock, and at exit CPython waits 1 s for it, then aborts.
    def watch_stdin() -> None:
        while os.read(0, 4096):
            pass
        loop.call_soon_threadsafe(lambda: stop.done() or stop.cancel())

    threading.Thread(target=watch_stdin, daemon=True).start()
    port = await start()
    print(f"PORT {port}", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await stop


async def main(name: str, mode: str) -> None:
    await serve_until_stopped(lambda: SERVERS[name](mode))


def run(name: str, mode: str, loop_name: str) -> None:
    raise_fd_limit()
    coro: Any = main(name, mode)
    if loop_name == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in SERVERS:
        raise SystemExit(__doc__)
    profile_to = os.environ.get("BENCH_PROFILE")  # cProfile the server, for run.py --profile
    if profile_to:
        import cProfile

        cProfile.run("run(*sys.argv[1:])", profile_to)
    else:
        run(*sys.argv[1:])
