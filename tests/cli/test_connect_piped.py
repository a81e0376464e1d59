"""``switchboard connect`` with standard input not a terminal: lines in, messages out."""

from __future__ import annotations

import subprocess
import sys

from .conftest import Servers
from .helpers import cli_env, run_cli, run_cli_open_input


def test_lines_in_echoes_out_exit_0(servers: Servers) -> None:
    result = run_cli("connect", servers.url(), input='hello\nwörld\n\n{"a": 1}\r\nlast')
    assert result.stdout == 'hello\nwörld\n\n{"a": 1}\nlast\n'
    assert result.stderr == ""
    assert result.returncode == 0


def test_empty_input_closes_cleanly(servers: Servers) -> None:
    result = run_cli("connect", servers.url(), input="")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_message_received_before_any_input(servers: Servers) -> None:
    result = run_cli("connect", servers.url("/greet"), input="hi\n")
    assert result.stdout == "welcome\nhi\n"
    assert result.returncode == 0


def test_server_closing_with_1011_exits_1_with_the_reason(servers: Servers) -> None:
    result = run_cli("connect", servers.url("/close1011"), input="one\ntwo\nthree\n")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "switchboard connect: connection closed: peer closed: received 1011 "
        "(internal server error) 'boom', then sent 1011 (internal server error)\n"
    )


def test_dropped_connection_exits_1_and_says_1006(servers: Servers) -> None:
    status, _, stderr = run_cli_open_input("connect", servers.drop_url, input="hi\n")
    assert status == 1
    assert stderr == (
        "switchboard connect: connection closed: "
        "connection dropped without a closing handshake (1006)\n"
    )


def test_unreachable_host_is_one_line(servers: Servers) -> None:
    result = run_cli("connect", "ws://127.0.0.1:1/", input="hi\n")
    assert result.returncode == 1
    assert (
        result.stderr
        == "switchboard connect: cannot connect to ws://127.0.0.1:1/: connection refused\n"
    )


def test_unknown_host_is_one_line() -> None:
    result = run_cli("connect", "ws://no-such-host.invalid/", input="hi\n")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "switchboard connect: cannot resolve the host of ws://no-such-host.invalid/: "
    )
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_refused_handshake_shows_status_and_body(servers: Servers) -> None:
    result = run_cli("connect", servers.url("/refuse"), input="hi\n")
    assert result.returncode == 1
    assert result.stderr == (
        "switchboard connect: server rejected WebSocket connection: HTTP 403: go away: no token\n"
    )


def test_bad_url_is_a_usage_error() -> None:
    result = run_cli("connect", "http://example.com/", input="")
    assert result.returncode == 2
    assert result.stderr == (
        "switchboard connect: 'http://example.com/' is not a WebSocket URI: "
        "the scheme must be ws or wss\n"
    )


def test_bad_header_is_a_usage_error(servers: Servers) -> None:
    result = run_cli("connect", "-H", "no colon", servers.url())
    assert result.returncode == 2
    assert result.stderr == "switchboard connect: --header 'no colon' is not 'Name: value'\n"


def test_invalid_utf8_input_is_reported(servers: Servers) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "switchboard", "connect", servers.url()],
        input=b"ok\n\xff\n",
        capture_output=True,
        timeout=30,
        env=cli_env(),
    )
    assert result.returncode == 1  # at once: replies to earlier lines may be lost
    assert result.stderr == b"switchboard connect: input line 2 is not valid UTF-8\n"


def test_subprotocol_headers_and_origin_reach_the_server(servers: Servers) -> None:
    # The echo server does not show headers: the trace shows what was sent.
    result = run_cli(
        "connect",
        "--trace",
        "-s",
        "chat.v1",
        "-H",
        "Authorization: Bearer t0k",
        "--origin",
        f"http://127.0.0.1:{servers.port}",
        "--no-compression",
        servers.url(),
        input="x\n",
    )
    assert result.returncode == 0, result.stderr
    assert "> Sec-WebSocket-Protocol: chat.v1\n" in result.stderr
    assert "> Authorization: Bearer t0k\n" in result.stderr
    assert f"> Origin: http://127.0.0.1:{servers.port}\n" in result.stderr
    assert "< Sec-WebSocket-Protocol: chat.v1\n" in result.stderr
    assert "Sec-WebSocket-Extensions" not in result.stderr


def test_through_an_http_proxy(servers: Servers) -> None:
    result = run_cli("connect", "--proxy", servers.proxy.url, servers.url(), input="via proxy\n")
    assert (result.returncode, result.stdout) == (0, "via proxy\n")
    assert servers.proxy.requests[-1][:2] == ("CONNECT", f"127.0.0.1:{servers.port}")


def test_proxy_refusal_is_one_line(servers: Servers) -> None:
    result = run_cli("connect", "--proxy", servers.proxy.url, "ws://127.0.0.1:1/", input="x\n")
    assert result.returncode == 1
    assert result.stderr == (
        f"switchboard connect: proxy 127.0.0.1:{servers.proxy.port} refused CONNECT "
        "127.0.0.1:1: HTTP 502 Bad Gateway\n"
    )


def test_unreachable_proxy_names_the_proxy(servers: Servers) -> None:
    result = run_cli("connect", "--proxy", "http://127.0.0.1:1", servers.url(), input="x\n")
    assert result.returncode == 1
    assert result.stderr == (
        f"switchboard connect: cannot connect to {servers.url()} via proxy "
        "http://127.0.0.1:1: connection refused\n"
    )
