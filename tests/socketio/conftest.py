"""A hub serving both wires on a real server on 127.0.0.1: the native protocol at
/rt and Socket.IO at /socket.io/, for real Socket.IO clients (python-socketio's
AsyncClient, socket.io-client under Node and in Chromium)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sio_helpers import Both, ServeBoth

import switchboard
from switchboard.realtime import Hub
from switchboard.realtime.socketio import SocketIO


@pytest.fixture
async def serve_both() -> AsyncIterator[ServeBoth]:
    """``await serve_both(hub, **socketio_options)``; every namespace's hub is
    closed at the end."""
    started: list[tuple[Both, Any]] = []

    async def start(hub: Hub, **options: Any) -> Both:
        router = switchboard.Router()
        router.mount("/rt", hub)
        sio = SocketIO(hub, **options)
        router.mount("/socket.io", sio)
        context = switchboard.serve(router, "127.0.0.1", 0)
        server = await context.__aenter__()
        both = Both(hub, server, sio)
        started.append((both, context))
        return both

    yield start
    for both, context in reversed(started):
        await both.close()
        await context.__aexit__(None, None, None)
        for hub, _ in both.socketio.namespaces.values():  # the "/" hub first
            await hub.close()
