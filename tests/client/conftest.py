"""Fixtures for client tests: an echo server, a real HTTP CONNECT proxy, and an
environment without proxy variables (so the machine's own never leak in)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from client_helpers import ConnectProxy, echo

import switchboard


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)


@pytest.fixture
async def server() -> AsyncIterator[switchboard.Server]:
    async with switchboard.serve(echo, "127.0.0.1", 0) as srv:
        yield srv


@pytest.fixture
async def proxy() -> AsyncIterator[ConnectProxy]:
    proxy = ConnectProxy()
    await proxy.start()
    yield proxy
    await proxy.stop()
