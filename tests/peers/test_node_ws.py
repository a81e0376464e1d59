"""Node's `ws` package (tests/peers/package.json) as a client of our server and as a
server for our client. The Node side is tests/peers/ws_peer.js."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import switchboard
from switchboard import ConnectionClosed, ConnectionClosedError, WebSocket

PEERS = Path(__file__).parent
NODE = shutil.which("node")
TIMEOUT = 30.0  # ws_peer.js gives up after 30 s too

if NODE is None:
    pytest.skip("node is not installed", allow_module_level=True)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", autouse=True)
def node_modules() -> None:
    """Install `ws` from the lock file when it is missing."""
    if not (PEERS / "node_modules" / "ws").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, and tests/peers/node_modules is missing")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEERS, check=True, timeout=300)


def pattern(n: int) -> bytes:
    """The bytes of ws_peer.js's ``pattern(n)``."""
    return bytes((i * 31 + 7) & 255 for i in range(n))


# -- ws as a client of our server ---------------------------------------------------


class Recorder:
    """An echo handler that remembers what the server side saw."""

    def __init__(self) -> None:
        self.received: list[switchboard.Data] = []
        self.deflate: list[bool] = []
        self.closed: list[ConnectionClosed] = []

    async def __call__(self, ws: WebSocket) -> None:
        self.deflate.append(ws.protocol.deflate is not None)
        try:
            async for message in ws:
                self.received.append(message)
                if message == "close 4000":
                    await ws.close(4000, "bye")
                else:
                    await ws.send(message)
        except ConnectionClosed as exc:
            self.closed.append(exc)
            raise
        else:  # a normal closure ends the iteration quietly
            self.closed.append(ws.protocol.closed_exception())


async def run_node(*args: str) -> Any:
    """Run ws_peer.js to completion and return the JSON it printed."""
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE, str(PEERS / "ws_peer.js"), *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT + 5)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout)


@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "plain"])
async def test_ws_client(deflate: bool) -> None:
    recorder = Recorder()
    async with switchboard.serve(recorder, "127.0.0.1", 0, subprotocols=["chat"]) as server:
        result = await run_node("client", f"ws://127.0.0.1:{server.port}/", str(int(deflate)))

    assert result["extensions"] == ("permessage-deflate" if deflate else "")
    assert result["protocol"] == "chat"
    assert result["echoes"] == [True] * 6
    assert result["fragmentedText"] == "fragmented ✓"
    assert result["fragmentedBinary"] == [1, 2, 3]
    assert result["pong"] == "node ping"
    assert result["serverClose"] == {"code": 4000, "reason": "bye"}
    assert result["clientClose"] == {"code": 4002, "reason": ""}  # we echo the code alone
    # Compressed, the 2 MiB fits in a small frame and trips the message limit as it
    # inflates; uncompressed, the frame limit trips on the header.
    too_big = (
        "message too big: over 1048576 bytes after decompression"
        if deflate
        else "frame too big: 2097152 bytes; the limit is 1048576"
    )
    assert result["tooBig"] == {"code": 1009, "reason": too_big}

    assert recorder.deflate == [deflate] * 3
    assert recorder.received == [
        "Hello",
        "",
        "héllo wörld ✓ 😀",
        "€" * 70000,
        pattern(256),
        pattern(1000000),
        "fragmented ✓",
        b"\x01\x02\x03",
        "close 4000",
    ]
    codes = [(type(c), c.code, c.reason) for c in recorder.closed]
    assert codes == [
        (ConnectionClosedError, 4000, "bye"),  # sent by us, echoed by ws
        (ConnectionClosedError, 4002, "node done"),
        (ConnectionClosedError, 1009, too_big),
    ]


# -- ws as a server for our client --------------------------------------------------


@pytest.fixture(params=[True, False], ids=["deflate", "plain"])
async def node_server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[bool, Any]]:
    """ws_peer.js in server mode; yields (its perMessageDeflate, the process)."""
    assert NODE is not None
    deflate: bool = request.param
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(PEERS / "ws_peer.js"),
        "server",
        str(int(deflate)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        yield deflate, process
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()  # ws_peer.js exits when its stdin ends
            try:
                await asyncio.wait_for(process.wait(), TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()


async def read_json(process: Any) -> Any:
    line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
    assert line, "ws_peer.js ended early"
    return json.loads(line)


@pytest.mark.parametrize("compression", [switchboard.DeflateOptions(), None], ids=["on", "off"])
async def test_ws_server(
    node_server: tuple[bool, Any], compression: switchboard.DeflateOptions | None
) -> None:
    node_deflate, process = node_server
    port = (await read_json(process))["port"]
    async with switchboard.connect(f"ws://127.0.0.1:{port}/", compression=compression) as ws:
        negotiated = node_deflate and compression is not None
        assert (ws.protocol.deflate is not None) == negotiated
        assert ws.response is not None
        expected = "permessage-deflate" if negotiated else None
        assert ws.response.headers.get("Sec-WebSocket-Extensions") == expected

        messages: list[str | bytes] = ["Hello", "", "héllo wörld ✓ 😀", "€" * 70000]
        for message in [*messages, pattern(1000000)]:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(["frag", "mented ", "✓"])
        assert await ws.recv() == "fragmented ✓"
        await ws.send(iter([b"\x01\x02", b"", b"\x03"]))
        assert await ws.recv() == b"\x01\x02\x03"
        await ws.send("fragments please")  # ws sends two frames: fin false, then true
        assert await ws.recv() == "fragmented ✓"
        assert await ws.ping(b"switchboard ping") >= 0.0  # ws answered it
    assert (ws.close_code, ws.close_reason) == (1000, "")

    offered = "permessage-deflate; client_max_window_bits" if compression else ""
    assert await read_json(process) == {"ping": "switchboard ping"}
    assert await read_json(process) == {"offered": offered, "code": 1000, "reason": ""}


async def test_ws_server_closes_with_code(node_server: tuple[bool, Any]) -> None:
    _, process = node_server
    port = (await read_json(process))["port"]
    async with switchboard.connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send("close 4000")
        with pytest.raises(ConnectionClosedError) as caught:
            await ws.recv()
    assert (caught.value.code, caught.value.reason, caught.value.rcvd_then_sent) == (
        4000,
        "bye",
        True,
    )
    assert (ws.close_code, ws.close_reason) == (4000, "bye")
    offered = "permessage-deflate; client_max_window_bits"
    assert await read_json(process) == {"offered": offered, "code": 4000, "reason": ""}
