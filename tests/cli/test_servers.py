"""``switchboard echo`` and ``switchboard serve``: started as a user would, stopped by SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .conftest import Servers
from .helpers import run_cli, start_server

if TYPE_CHECKING:
    from conftest import TLS


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(10)


@pytest.fixture(scope="module")
def tls_echo(tls: TLS) -> Iterator[str]:
    proc, match = start_server(
        "echo", "--port", "0", "--certfile", tls.cert_file, "--keyfile", tls.key_file
    )
    try:
        assert match[1] == "wss"
        yield f"wss://127.0.0.1:{match[2]}/"
    finally:
        assert stop(proc) == 0


def test_echo_over_tls_with_the_ca(tls_echo: str, tls: TLS) -> None:
    result = run_cli("connect", "--cafile", tls.ca_file, tls_echo, input="secure\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "secure\n", "")


def test_untrusted_certificate_is_one_line(tls_echo: str) -> None:
    result = run_cli("connect", tls_echo, input="x\n")
    assert result.returncode == 1
    assert result.stderr == (
        f"switchboard connect: TLS certificate verification failed for {tls_echo}: "
        "unable to get local issuer certificate "
        "(--cafile FILE trusts another CA; --insecure skips the check)\n"
    )


def test_insecure_skips_verification(tls_echo: str) -> None:
    result = run_cli("connect", "--insecure", tls_echo, input="unverified\n")
    assert (result.returncode, result.stdout) == (0, "unverified\n")


def test_missing_ca_file(tls_echo: str) -> None:
    result = run_cli("connect", "--cafile", "/nonexistent.pem", tls_echo, input="x\n")
    assert result.returncode == 1
    assert result.stderr == (
        "switchboard connect: cannot load CA file /nonexistent.pem: No such file or directory\n"
    )


def test_plain_client_to_a_tls_server(tls_echo: str) -> None:
    url = tls_echo.replace("wss:", "ws:")
    result = run_cli("connect", url, input="x\n")
    assert result.returncode == 1
    assert result.stderr.startswith("switchboard connect: ")
    assert result.stderr.count("\n") == 1


def test_tls_client_to_a_plain_server(servers: Servers) -> None:
    url = servers.url().replace("ws:", "wss:")
    result = run_cli("connect", url, input="x\n")
    assert result.returncode == 1
    assert result.stderr == (
        f"switchboard connect: TLS handshake with {url} failed: WRONG_VERSION_NUMBER "
        "(the server does not speak TLS: try ws://)\n"
    )


def test_serve_runs_the_chat_app() -> None:
    proc, match = start_server("serve", "--port", "0")
    try:
        assert match[1] == "http"
        base = f"127.0.0.1:{match[2]}"
        with urllib.request.urlopen(f"http://{base}/api/history", timeout=10) as response:
            history = json.load(response)
        assert history["messages"] == []
        hello = '{"t":"hello","v":1,"auth":{"name":"cli"}}\n'
        result = run_cli("connect", "-s", "switchboard.v1", f"ws://{base}/rt", input=hello)
        assert result.returncode == 0, result.stderr
        welcome = json.loads(result.stdout.splitlines()[0])
        assert welcome["t"] == "welcome"
        assert welcome["user"]["info"]["name"] == "cli"
    finally:
        assert stop(proc) == 0


def test_serve_with_redis_shares_rooms_between_two_processes() -> None:
    from realtime.redis_helpers import RedisServer

    redis = RedisServer()
    redis.start()
    procs = []
    try:
        for _ in range(2):
            procs.append(start_server("serve", "--port", "0", "--redis", redis.url))
        bases = [f"127.0.0.1:{match[2]}" for _, match in procs]
        for base in bases:
            with urllib.request.urlopen(f"http://{base}/healthz", timeout=10) as response:
                health = json.load(response)
            assert health["status"] == "ok"
            assert health["components"][0]["broker"] == "redis"
    finally:
        for proc, _ in procs:
            assert stop(proc) == 0
        redis.cleanup()
    result = run_cli("serve", "--redis", "localhost:6379")
    assert (result.returncode, result.stderr) == (
        1,
        "switchboard serve: not a Redis URL: 'localhost:6379' "
        "(redis://host:port/db, rediss://..., unix://path)\n",
    )


def test_server_tls_options_are_checked() -> None:
    result = run_cli("serve", "--keyfile", "key.pem")
    assert result.returncode == 2
    assert result.stderr == "switchboard serve: --keyfile needs --certfile\n"
    result = run_cli("echo", "--certfile", "/nonexistent.pem")
    assert result.returncode == 1
    assert result.stderr == (
        "switchboard echo: cannot load /nonexistent.pem: No such file or directory\n"
    )


def test_port_in_use(tls_echo: str) -> None:
    port = tls_echo.rsplit(":", 1)[1].strip("/")
    result = run_cli("echo", "--port", port)
    assert result.returncode == 1
    assert result.stderr == (
        f"switchboard echo: error while attempting to bind on address ('127.0.0.1', {port}): "
        "address already in use\n"
    )
