"""``connect --trace``: handshake headers, frame lines and close explanations."""

from __future__ import annotations

import re

import pytest

from switchboard.cli.output import Console
from switchboard.cli.trace import FrameScanner, TracedConnection, Tracer, WireFrame
from switchboard.protocol import Connection, DeflateOptions, PerMessageDeflate, Role
from switchboard.protocol.frames import encode_frame

from .conftest import Servers
from .helpers import STAMP, run_cli, run_cli_open_input


def frame_lines(stderr: str) -> list[str]:
    """The frame lines, without their time stamps."""
    return [line[13:] for line in stderr.splitlines() if re.match(rf"{STAMP} [<>] ", line)]


def test_handshake_frames_and_close(servers: Servers) -> None:
    result = run_cli("connect", "--trace", servers.url(), input="hello\n" + "0" * 300 + "\n")
    assert result.returncode == 0
    assert result.stdout == "hello\n" + "0" * 300 + "\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "> GET / HTTP/1.1"
    assert f"> Host: 127.0.0.1:{servers.port}" in lines
    assert "> Upgrade: websocket" in lines
    assert "> Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits" in lines
    assert "< HTTP/1.1 101 Switching Protocols" in lines
    accepted = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    assert f"< Sec-WebSocket-Extensions: {accepted}" in lines
    frames = frame_lines(result.stderr)
    # Each direction in order (how they interleave depends on timing).
    sent = [line for line in frames if line.startswith(">")]
    received = [line for line in frames if line.startswith("<")]
    # 300 zeros compress (the threshold is 128) to a few bytes; the line shows both sizes.
    zeros = r"\(300 B uncompressed\) '" + "0" * 60 + "'…"
    assert sent[0] == "> TEXT   fin=1 rsv1=0 mask=1 len=5 'hello'"
    assert re.fullmatch(rf"> TEXT   fin=1 rsv1=1 mask=1 len=\d {zeros}", sent[1])
    assert sent[2:] == ["> CLOSE  fin=1 rsv1=0 mask=1 len=2 1000 (normal closure)"]
    assert received[0] == "< TEXT   fin=1 rsv1=0 mask=0 len=5 'hello'"
    assert re.fullmatch(rf"< TEXT   fin=1 rsv1=1 mask=0 len=\d {zeros}", received[1])
    assert received[2:] == ["< CLOSE  fin=1 rsv1=0 mask=0 len=2 1000 (normal closure)"]
    assert lines[-1] == (
        "connection closed: we closed: sent 1000 (normal closure), "
        "then received 1000 (normal closure)"
    )


def test_close_code_explained(servers: Servers) -> None:
    result = run_cli("connect", "--trace", servers.url("/close1011"), input="x\n")
    assert result.returncode == 1
    assert frame_lines(result.stderr)[-2:] == [
        "< CLOSE  fin=1 rsv1=0 mask=0 len=6 1011 (internal server error) 'boom'",
        "> CLOSE  fin=1 rsv1=0 mask=1 len=2 1011 (internal server error)",
    ]


def test_dropped_connection_explained(servers: Servers) -> None:
    status, _, stderr = run_cli_open_input("connect", "--trace", servers.drop_url, input="x\n")
    assert status == 1
    assert frame_lines(stderr) == ["> TEXT   fin=1 rsv1=0 mask=1 len=1 'x'"]
    assert "connection closed: connection dropped without a closing handshake (1006)\n" in stderr


def test_frames_that_come_with_the_handshake_follow_it(servers: Servers) -> None:
    result = run_cli("connect", "--trace", servers.url("/greet"), input="")
    lines = result.stderr.splitlines()
    greeting = lines.index(next(line for line in lines if line.endswith("'welcome'")))
    assert greeting > lines.index("< HTTP/1.1 101 Switching Protocols")
    assert lines[greeting][13:] == "< TEXT   fin=1 rsv1=0 mask=0 len=7 'welcome'"


# -- the tracing layer on sans-I/O connections: every frame kind, no sockets ------


def test_scanner_reassembles_headers_split_anywhere() -> None:
    data = (
        encode_frame(0x1, b"a" * 70000, fin=False, mask=b"abcd")
        + encode_frame(0x9, b"ping", mask=b"wxyz")
        + encode_frame(0x0, b"", rsv1=True)
        + encode_frame(0x8, b"\x03\xe8bye")
    )
    expected = [
        WireFrame(0x1, False, False, True, 70000),
        WireFrame(0x9, True, False, True, 4, b"ping"),
        WireFrame(0x0, True, True, False, 0),
        WireFrame(0x8, True, False, False, 5, b"\x03\xe8bye"),
    ]
    for size in (1, 3, 7, 1000, len(data)):
        scanner = FrameScanner()
        frames = []
        for start in range(0, len(data), size):
            frames += scanner.feed(data[start : start + size])
        assert frames == expected, size


def pair() -> tuple[TracedConnection, Connection]:
    client = TracedConnection(Role.CLIENT, deflate=PerMessageDeflate(), tracer=Tracer(Console()))
    client.tracer.handshake(None, None)
    server = Connection(Role.SERVER, deflate=PerMessageDeflate())
    return client, server


def exchange(client: TracedConnection, server: Connection) -> None:
    """Move bytes both ways, as the asyncio layer would."""
    for chunk in client.data_to_send():
        server.receive_data(chunk)
    server.events_received()
    for chunk in server.data_to_send():
        client.receive_data(chunk)
    client.events_received()


def test_fragments_pings_and_binary(capsys: pytest.CaptureFixture[str]) -> None:
    client, server = pair()
    client.send_fragment("part one ", fin=False)
    client.send_fragment("part two", fin=True, compress=True)
    client.send_ping(b"\x01\x02")
    client.send_binary(b"\x00\xff" * 200)
    server.send_text("x" * 200)
    exchange(client, server)
    frames = frame_lines(capsys.readouterr().err)
    assert re.fullmatch(
        r"> TEXT   fin=0 rsv1=1 mask=1 len=\d+ \(9 B uncompressed\) 'part one '", frames[0]
    )
    assert re.fullmatch(r"> CONT   fin=1 rsv1=0 mask=1 len=\d+ 'part two'", frames[1])
    assert frames[2] == "> PING   fin=1 rsv1=0 mask=1 len=2 0102"
    assert re.fullmatch(
        r"> BINARY fin=1 rsv1=1 mask=1 len=\d+ \(400 B uncompressed\) (00ff){15}…", frames[3]
    )
    assert re.fullmatch(
        r"< TEXT   fin=1 rsv1=1 mask=0 len=\d+ \(200 B uncompressed\) 'x+'…", frames[4]
    )
    assert frames[5] == "< PONG   fin=1 rsv1=0 mask=0 len=2 0102"


def test_a_rejected_frame_is_marked(capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = pair()
    client.receive_data(encode_frame(0x1, b"\xff\xfe"))  # not UTF-8
    client.events_received()
    client.data_to_send()
    frames = frame_lines(capsys.readouterr().err)
    assert frames == [
        "< TEXT   fin=1 rsv1=0 mask=0 len=2 (rejected: invalid UTF-8 in a text message)",
        "> CLOSE  fin=1 rsv1=0 mask=1 len=33 1007 (invalid data (bad UTF-8 in a text message))"
        " 'invalid UTF-8 in a text message'",
    ]


def test_an_oversized_frame_is_marked_at_its_header(capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = pair()
    header = encode_frame(0x2, b"x" * (2 << 20))[:10]  # 2 MiB announced; the limit is 1 MiB
    client.receive_data(header + b"x" * 1000)
    client.events_received()
    client.receive_data(b"x" * 1000)  # the rest is ignored
    client.events_received()
    assert frame_lines(capsys.readouterr().err) == [
        "< BINARY fin=1 rsv1=0 mask=0 len=2097152 "
        "(rejected: frame too big: 2097152 bytes; the limit is 1048576)"
    ]


def test_an_oversized_control_frame_is_not_buffered(capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = pair()
    client.receive_data(encode_frame(0x9, b"p" * 200)[:50] + encode_frame(0x1, b"next"))
    client.events_received()
    assert frame_lines(capsys.readouterr().err) == [
        "< PING   fin=1 rsv1=0 mask=0 len=200 "
        "(rejected: control frame payload is 200 bytes; the limit is 125)"
    ]


def test_frames_after_the_close_are_marked(capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = pair()
    client.receive_data(encode_frame(0x8, b"\x03\xe8") + encode_frame(0x1, b"late"))
    client.events_received()
    frames = frame_lines(capsys.readouterr().err)
    assert frames == [
        "< CLOSE  fin=1 rsv1=0 mask=0 len=2 1000 (normal closure)",
        "< TEXT   fin=1 rsv1=0 mask=0 len=4 (discarded after the close frame)",
    ]


def test_compression_off_leaves_rsv1_clear(capsys: pytest.CaptureFixture[str]) -> None:
    client = TracedConnection(Role.CLIENT, tracer=Tracer(Console()))
    client.tracer.handshake(None, None)
    client.send_text("y" * 500)
    client.data_to_send()
    assert DeflateOptions().threshold < 500
    assert frame_lines(capsys.readouterr().err)[0].startswith(
        "> TEXT   fin=1 rsv1=0 mask=1 len=500 'yyy"
    )
