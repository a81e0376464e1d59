"""ConnectionClosed: its message, code and reason for every way a connection ends."""

from __future__ import annotations

import copy
import pickle

import pytest

from switchboard.protocol.errors import (
    DROPPED,
    Close,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    effective_close,
)

NORMAL = Close(1000, "")
BYE = Close(4000, "bye")


BYE_TEXT = "4000 (private application code) 'bye'"
NORMAL_TEXT = "1000 (normal closure)"


@pytest.mark.parametrize(
    ("rcvd", "sent", "rcvd_then_sent", "message", "code", "reason"),
    [
        (None, None, None, "connection dropped without a closing handshake (1006)", 1006, ""),
        (None, BYE, None, f"sent close {BYE_TEXT}; no close frame received", 4000, "bye"),
        (BYE, None, None, f"received close {BYE_TEXT}; no close frame sent", 4000, "bye"),
        (
            BYE,
            NORMAL,
            True,
            f"peer closed: received {BYE_TEXT}, then sent {NORMAL_TEXT}",
            4000,
            "bye",
        ),
        (NORMAL, BYE, False, f"we closed: sent {BYE_TEXT}, then received {NORMAL_TEXT}", 1000, ""),
    ],
)
def test_message_code_and_reason(
    rcvd: Close | None,
    sent: Close | None,
    rcvd_then_sent: bool | None,
    message: str,
    code: int,
    reason: str,
) -> None:
    exc = ConnectionClosedError(rcvd, sent, rcvd_then_sent)
    assert str(exc) == message
    assert (exc.code, exc.reason) == (code, reason)
    assert effective_close(rcvd, sent) == Close(code, reason)


def test_repr_shows_the_message() -> None:
    exc = ConnectionClosedOK(NORMAL, NORMAL, True)
    message = "peer closed: received 1000 (normal closure), then sent 1000 (normal closure)"
    assert repr(exc) == f"ConnectionClosedOK({message!r})"


def test_a_traceback_shows_the_message() -> None:
    with pytest.raises(ConnectionClosed, match=r"^sent close 4000 .*'bye'; no close frame"):
        raise ConnectionClosedError(None, BYE)


@pytest.mark.parametrize("clone", [copy.copy, lambda exc: pickle.loads(pickle.dumps(exc))])
def test_copies_and_pickles_are_equal(clone: object) -> None:
    exc = ConnectionClosedError(BYE, NORMAL, True)
    other = clone(exc)  # type: ignore[operator]
    assert type(other) is ConnectionClosedError
    assert (other.rcvd, other.sent, other.rcvd_then_sent) == (BYE, NORMAL, True)
    assert str(other) == str(exc)


def test_dropped_is_1006() -> None:
    assert effective_close(None, None) is DROPPED
    assert (DROPPED.code, DROPPED.reason) == (1006, "")
