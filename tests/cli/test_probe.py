"""``switchboard probe``: the report table and its JSON form."""

from __future__ import annotations

import json
import re

from .conftest import Servers
from .helpers import run_cli, table_rows


def test_table(servers: Servers) -> None:
    result = run_cli("probe", "-s", "chat.v1", servers.url())
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert list(rows) == ["handshake", "subprotocol", "extensions", "ping", "echo", "close"]
    assert re.fullmatch(r"101 Switching Protocols in \d+\.\d+ ms", rows["handshake"])
    assert rows["subprotocol"] == "chat.v1"
    assert rows["extensions"] == (
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    )
    assert re.fullmatch(r"\d+\.\d+ ms \(median of 5\)", rows["ping"])
    # The server's limit is 1 MiB (the default Limits): 1 MiB echoes, 4 MiB does not.
    assert rows["echo"] == (
        "yes, up to 1 MiB; 4 MiB: closed 1009 (message too big) "
        "'frame too big: 4194304 bytes; the limit is 1048576'"
    )
    assert re.fullmatch(r"yes: 1000 \(normal closure\) in \d+\.\d+ ms", rows["close"])


def test_json(servers: Servers) -> None:
    result = run_cli("probe", "--json", "--max-size", "65536", "--no-compression", servers.url())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["url"] == servers.url()
    assert report["ok"] is True
    assert report["handshake"]["status"] == 101
    assert report["handshake"]["reason"] == "Switching Protocols"
    assert report["handshake"]["time_ms"] > 0
    assert report["subprotocol"] is None
    assert report["extensions"] == []
    assert report["ping"]["count"] == 5
    assert report["ping"]["median_ms"] > 0
    assert report["echo"] == {
        "echoes": True,
        "largest": 65536,
        "failed_size": None,
        "failure": None,
    }
    assert report["close"]["code"] == 1000
    assert report["close"]["reason"] == ""
    assert report["close"]["ok"] is True


def test_extension_parameters_are_listed(servers: Servers) -> None:
    result = run_cli("probe", "--json", "--max-size", "1024", servers.url())
    report = json.loads(result.stdout)
    assert report["extensions"] == [
        {
            "name": "permessage-deflate",
            "params": {"server_max_window_bits": "12", "client_max_window_bits": "12"},
        }
    ]


def test_not_an_echo_server(servers: Servers) -> None:
    result = run_cli("probe", servers.url("/close1011"))
    rows = table_rows(result.stdout)
    assert rows["echo"] == (
        "no: a text message got no echo (closed 1011 (internal server error) 'boom')"
    )
    assert rows["close"].startswith("yes: 1000 (normal closure)")
    assert result.returncode == 0  # not echoing is not a failure


def test_a_server_that_drops_connections_fails(servers: Servers) -> None:
    result = run_cli("probe", "--json", servers.drop_url)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["ping"] is None
    assert report["echo"] == {"echoes": False}
    assert report["close"]["code"] is None
    assert report["close"]["ok"] is False
    result = run_cli("probe", servers.drop_url)
    rows = table_rows(result.stdout)
    assert rows["ping"] == (
        "connection closed: connection dropped without a closing handshake (1006)"
    )
    assert rows["close"] == "no: the server dropped the connection without a close frame"


def test_refused_handshake(servers: Servers) -> None:
    result = run_cli("probe", servers.url("/refuse"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "switchboard probe: server rejected WebSocket connection: HTTP 403: go away: no token\n"
    )
    result = run_cli("probe", "--json", servers.url("/refuse"))
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "url": servers.url("/refuse"),
        "ok": False,
        "error": "server rejected WebSocket connection: HTTP 403: go away: no token",
    }
