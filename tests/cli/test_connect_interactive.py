"""``switchboard connect`` on a terminal, driven through a pseudo-terminal (pexpect)."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest

from .conftest import Servers
from .helpers import STAMP, cli_env, spawn


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # No cursor position requests (pexpect does not answer them); history in tmp_path.
    return cli_env(PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", XDG_STATE_HOME=str(tmp_path))


def test_session(servers: Servers, env: dict[str, str], tmp_path: Path) -> None:
    child = spawn("connect", servers.url(), env=env)
    child.expect(
        rf"connected to {servers.url()} \(permessage-deflate; server_max_window_bits=12;"
        r" client_max_window_bits=12\); "
        r"/help lists commands"
    )
    child.sendline("hello there")
    child.expect(rf"{STAMP} > hello there\r\n")
    child.expect(rf"{STAMP} < hello there\r\n")

    child.sendline("/ping")
    child.expect(r"pong: round trip \d+\.\d+ ms")

    child.sendline("/binary 48 69 ff")
    child.expect(rf"{STAMP} < \(binary, 3 B\) 48 69 ff\r\n")

    child.sendline("/json")
    child.expect("JSON pretty-printing on")
    child.sendline('{"a": [1, 2]}')
    child.expect(rf'{STAMP} < \r\n{{\r\n  "a": \[\r\n    1,\r\n    2\r\n  \]\r\n}}\r\n')

    child.sendline("//slash")
    child.expect(rf"{STAMP} < /slash\r\n")

    child.sendline("/nope")
    child.expect(r"unknown command /nope; /help lists them")
    child.sendline("/close 1006")
    child.expect(r"/close 1006: close code 1006 may not be sent in a close frame")

    child.sendline("/close 4000 bye")
    child.expect(
        r"connection closed: we closed: sent 4000 \(private application code\) 'bye', "
        r"then received 4000 \(private application code\)"
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0  # we asked for the close: a clean end
    history = (tmp_path / "switchboard" / "history").read_text()
    assert "+hello there\n" in history
    assert "+/close 4000 bye\n" in history


def test_ctrl_d_closes_normally(servers: Servers, env: dict[str, str]) -> None:
    child = spawn("connect", servers.url(), env=env)
    child.sendline("hi")
    child.expect(rf"{STAMP} < hi\r\n")  # the prompt is up: the terminal is in raw mode
    child.sendcontrol("d")
    child.expect(r"connection closed: we closed: sent 1000 \(normal closure\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_server_close_ends_the_session_with_status_1(servers: Servers, env: dict[str, str]) -> None:
    child = spawn("connect", servers.url("/close1011"), env=env)
    child.expect("/help lists commands")
    child.sendline("anything")
    child.expect(r"connection closed: peer closed: received 1011 \(internal server error\) 'boom'")
    child.expect(r"switchboard connect: connection closed: peer closed: received 1011")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


def test_trace_in_the_session(servers: Servers, env: dict[str, str]) -> None:
    child = spawn("connect", "--trace", servers.url(), env=env)
    child.expect(r"< HTTP/1\.1 101 Switching Protocols")
    child.expect("/help lists commands")
    child.sendline("/ping abc")
    child.expect(rf"{STAMP} > PING   fin=1 rsv1=0 mask=1 len=3 616263")
    child.expect(rf"{STAMP} < PONG   fin=1 rsv1=0 mask=0 len=3 616263")
    child.sendline("/quit")
    child.expect(rf"{STAMP} < CLOSE  fin=1 rsv1=0 mask=0 len=2 1000 \(normal closure\)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_colours_on_a_terminal_unless_no_color(servers: Servers, env: dict[str, str]) -> None:
    del env["NO_COLOR"]
    child = spawn("connect", servers.url(), env=env)
    child.expect("/help lists commands")
    child.sendline("hi")
    child.expect("\x1b\\[36m<\x1b\\[0m hi")  # the direction in cyan
    child.sendcontrol("d")
    child.expect(pexpect.EOF)


def test_without_prompt_toolkit_says_how_to_get_it(servers: Servers, env: dict[str, str]) -> None:
    src = Path(__file__).parents[2] / "src"
    # Only the standard library and switchboard itself on the path.
    code = (
        "import sys; sys.path = [p for p in sys.path if 'site-packages' not in p]; "
        f"sys.path.insert(0, {str(src)!r}); "
        "from switchboard.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    child = pexpect.spawn(
        sys.executable,
        ["-c", code, "connect", servers.url()],
        env=env,
        encoding="utf-8",
        timeout=10,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.before == (
        "switchboard connect: the interactive session needs prompt_toolkit: "
        "pip install 'switchboard-ws[cli]' (piped input works without it)\r\n"
    )
    assert child.exitstatus == 1
