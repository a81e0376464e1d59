"""Every failure the command line reports, as one line of text (never a traceback)."""

from __future__ import annotations

import argparse
import errno
import re
import socket
import ssl

from ..client import RedirectError
from ..protocol.errors import ConnectionClosed, InvalidHandshake, SwitchboardError

__all__ = [
    "CommandError",
    "UsageError",
    "describe_error",
    "is_usage_error",
    "target",
    "EXIT_ERROR",
    "EXIT_USAGE",
]

# OpenSSL's reason when the first bytes back are not a TLS record (a plain server).
_NOT_TLS = "WRONG_VERSION_NUMBER"

EXIT_ERROR = 1
EXIT_USAGE = 2


class CommandError(SwitchboardError):
    """A command failed; the message is the line shown to the user."""


class UsageError(CommandError):
    """The command line itself is wrong (exit status 2)."""


def is_usage_error(exc: BaseException) -> bool:
    """A bad argument: :class:`UsageError`, or a library error that is also a
    ``ValueError`` (:class:`~switchboard.InvalidURI`, an invalid proxy URL)."""
    return isinstance(exc, UsageError) or (
        isinstance(exc, SwitchboardError) and isinstance(exc, ValueError)
    )


def describe_error(exc: BaseException, target: str | None = None) -> str | None:
    """The line explaining ``exc`` to a user, or ``None`` if it is a bug.

    ``target`` is what the command was talking to (a URL or ``host:port``), to say
    *which* host was unreachable.
    """
    where = f" {target}" if target else ""
    if isinstance(exc, CommandError) or is_usage_error(exc):
        return str(exc)
    if isinstance(exc, InvalidHandshake):
        if exc.status in (0, 101):
            return f"invalid handshake response from{where}: {exc.reason}"
        # The server's (or proxy's) refusal, with its body: often the actual reason.
        body = "" if isinstance(exc, RedirectError) else _summarize(exc.body)
        return exc.reason + (f": {body}" if body else "")
    if isinstance(exc, ConnectionClosed):
        return f"connection closed: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verification failed for{where}: {exc.verify_message} "
            "(--cafile FILE trusts another CA; --insecure skips the check)"
        )
    if isinstance(exc, ssl.SSLError):
        hint = " (the server does not speak TLS: try ws://)" if exc.reason == _NOT_TLS else ""
        return f"TLS handshake with{where} failed: {exc.reason or exc}{hint}"
    if isinstance(exc, TimeoutError):
        return f"timed out talking to{where}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host of{where}: {exc.strerror}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to{where}: connection refused"
    if isinstance(exc, OSError):
        # asyncio's "Multiple exceptions: [Errno 111] Connect call failed ..." when a
        # name resolves to several addresses (::1 and 127.0.0.1) and all refuse.
        text = str(exc.strerror or exc)
        if "Connect call failed" in text and all(
            code == str(errno.ECONNREFUSED) for code in re.findall(r"\[Errno (\d+)\]", text)
        ):
            text = "connection refused"
        return f"cannot connect to{where}: {text}" if target else text
    return None


def _summarize(body: bytes, limit: int = 200) -> str:
    """A response body on one line: whitespace collapsed, cut at ``limit`` characters."""
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def target(args: argparse.Namespace) -> str | None:
    """What a client command talks to (its URL, and proxy if any), for error messages."""
    url: str | None = getattr(args, "url", None)
    proxy: str | None = getattr(args, "proxy", None)
    return f"{url} via proxy {proxy}" if url and proxy else url
