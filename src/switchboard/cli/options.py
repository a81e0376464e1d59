"""Options shared by several commands: how a client connects, where a server listens."""

from __future__ import annotations

import argparse
import ssl
from collections.abc import Callable
from typing import Any

from ..client import parse_uri
from ..protocol.deflate import DeflateOptions
from ..server.server import tls_context
from .errors import CommandError, UsageError

__all__ = [
    "add_client_options",
    "add_server_options",
    "client_options",
    "server_ssl",
    "bounded",
]


def bounded(kind: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    """An argparse ``type`` converting with ``kind`` and checking ``low <= value <= high``."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low:g} and {high:g}")
        return value

    return convert


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that connects to a server."""
    group = parser.add_argument_group("connection options")
    group.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    group.add_argument(
        "-s",
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="offer a subprotocol (repeatable, in order of preference)",
    )
    group.add_argument("--origin", metavar="URL", help="send this Origin header")
    group.add_argument(
        "--no-compression", action="store_true", help="do not offer permessage-deflate"
    )
    group.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="wss://: do not verify the server's certificate",
    )
    group.add_argument("--cafile", metavar="FILE", help="wss://: trust the CA certificates in FILE")
    group.add_argument(
        "--proxy", metavar="URL", help="connect through this proxy (http://HOST:PORT)"
    )


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`switchboard.connect` from the client options.

    Raises :class:`~switchboard.InvalidURI` for a bad URL, :class:`UsageError` for a
    malformed header and :class:`CommandError` for an unreadable CA file.
    """
    uri = parse_uri(args.url)
    headers = []
    for header in args.header:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            raise UsageError(f"--header {header!r} is not 'Name: value'")
        headers.append((name.strip(), value.strip()))
    options: dict[str, Any] = dict(
        headers=headers,
        subprotocols=args.subprotocol,
        origin=args.origin,
        compression=None if args.no_compression else DeflateOptions(),
    )
    if uri.secure and (args.insecure or args.cafile):
        options["ssl"] = _client_ssl(args.cafile, args.insecure)
    if args.proxy:
        options["proxy"] = args.proxy
    return options


def _client_ssl(cafile: str | None, insecure: bool) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise CommandError(f"cannot load CA file {cafile}: {exc.reason or exc}") from None
    except OSError as exc:
        raise CommandError(f"cannot load CA file {cafile}: {exc.strerror}") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def add_server_options(parser: argparse.ArgumentParser, port: int) -> None:
    """``--host``, ``--port`` (default ``port``) and TLS for a server command."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port",
        type=bounded(int, 0, 65535),
        default=port,
        help=f"port to listen on ({port}; 0 picks a free one)",
    )
    parser.add_argument("--certfile", metavar="FILE", help="serve TLS with this certificate chain")
    parser.add_argument(
        "--keyfile", metavar="FILE", help="the certificate's private key (default: in --certfile)"
    )


def server_ssl(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context from ``--certfile`` / ``--keyfile``, or ``None``."""
    if args.certfile is None:
        if args.keyfile is not None:
            raise UsageError("--keyfile needs --certfile")
        return None
    try:
        return tls_context(args.certfile, args.keyfile)
    except ssl.SSLError as exc:  # its message names the files
        raise CommandError(str(exc)) from None
    except OSError as exc:
        files = args.certfile + (f" and {args.keyfile}" if args.keyfile else "")
        raise CommandError(f"cannot load {files}: {exc.strerror}") from None
