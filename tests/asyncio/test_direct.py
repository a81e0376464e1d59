"""switchboard._direct and its C helpers: sends straight to sockets, on real sockets."""

from __future__ import annotations

import socket
from array import array

import pytest

from switchboard import _direct

pytestmark = pytest.mark.skipif(
    _direct.send_to_ready is None, reason="built without the C extension"
)


def tables(size: int) -> tuple[bytearray, array[int], array[int]]:
    return bytearray(size), array("Q", bytes(8 * size)), array("Q", bytes(8 * size))


def test_send_nowait_sends_and_reports_zero_instead_of_raising() -> None:
    a, b = socket.socketpair()
    with a, b:
        assert _direct.send_nowait(a.fileno(), b"hello") == 5
        assert b.recv(10) == b"hello"
        b.close()
        assert _direct.send_nowait(a.fileno(), b"x") == 0  # EPIPE: the transport will see it


def test_send_nowait_reports_a_short_send() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = b"x" * (4 << 20)
        sent = _direct.send_nowait(a.fileno(), big)
        assert 0 < sent < len(big)
        assert _direct.send_nowait(a.fileno(), big) == 0  # full: EAGAIN, not an exception


def test_send_to_ready_sends_to_ready_sockets_and_counts() -> None:
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        fds = array("i", [a.fileno() for a, _ in pairs] + [-1])
        ready, messages, sizes = tables(max(fds) + 1)
        ready[fds[0]] = ready[fds[2]] = 1  # fds[1] is not ready, -1 never is
        missed = _direct.send_to_ready(fds, ready, b"frame", messages, sizes)
        assert missed == [(1, 0), (3, 0)]
        assert pairs[0][1].recv(10) == pairs[2][1].recv(10) == b"frame"
        pairs[1][1].setblocking(False)
        with pytest.raises(BlockingIOError):
            pairs[1][1].recv(10)  # nothing went to the socket that was not ready
        assert (messages[fds[0]], sizes[fds[0]]) == (1, 5)
        assert (messages[fds[1]], sizes[fds[1]]) == (0, 0)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_send_to_ready_reports_a_short_send_and_clears_ready() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        fds = array("i", [a.fileno()])
        ready, messages, sizes = tables(a.fileno() + 1)
        ready[a.fileno()] = 1
        big = b"y" * (4 << 20)
        [(index, sent)] = _direct.send_to_ready(fds, ready, big, messages, sizes)
        assert index == 0 and 0 < sent < len(big)
        assert ready[a.fileno()] == 0  # the rest must queue in the transport first
        assert messages[a.fileno()] == 0


def test_send_to_ready_checks_its_arguments() -> None:
    ready, messages, sizes = tables(8)
    with pytest.raises(TypeError, match="send_to_ready"):
        _direct.send_to_ready(array("q", [1]), ready, b"x", messages, sizes)
    with pytest.raises(TypeError, match="send_to_ready"):
        _direct.send_to_ready(array("i", [1]), ready, b"x", array("Q", [0]), sizes)


def test_claim_grows_the_tables_and_release_returns_the_counts() -> None:
    fd = len(_direct.READY) + 5000  # beyond any descriptor in use
    _direct.claim(fd)
    try:
        assert len(_direct.READY) == len(_direct.MESSAGES) == len(_direct.BYTES) > fd
        _direct.READY[fd], _direct.MESSAGES[fd], _direct.BYTES[fd] = 1, 3, 99
        assert _direct.release(fd) == (3, 99)
        assert (_direct.READY[fd], _direct.MESSAGES[fd], _direct.BYTES[fd]) == (0, 0, 0)
    finally:
        _direct.release(fd)
