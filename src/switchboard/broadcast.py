"""``broadcast()``: one message to many connections, framed once, never waiting.

A chat room or a dashboard sends the same message to every subscriber. Calling
``await ws.send()`` for each would frame (and compress) the message once per
connection and let one slow reader hold up everyone behind it. ``broadcast``
builds each distinct frame once and writes it to every transport without waiting.

The price of never waiting is that a reader who does not keep up accumulates data
in its outgoing buffer; past the connection's ``write_budget`` (1 MiB by default)
it is a slow consumer, and it is closed with ``close_code`` (1013 "try again
later" by default, or 1008 "policy violation") rather than allowed to grow the
server's memory. Its ``close_cause`` is then "slow consumer".

Compression: a frame compressed once can be shared only by connections that
negotiated ``server_no_context_takeover`` with the same settings (their
compressors start fresh for every message). Connections with context takeover get
the message uncompressed, which RFC 7692 allows per message, instead of one
compression per connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from .protocol.connection import Role
from .protocol.deflate import compress_message
from .protocol.frames import encode_header
from .websocket import WebSocket

__all__ = ["broadcast"]

_background: set[asyncio.Future[None]] = set()


def broadcast(
    connections: Iterable[WebSocket],
    message: str | bytes,
    *,
    compress: bool | None = None,
    close_code: int = 1013,
) -> int:
    """Send ``message`` to every open connection in ``connections``; return how many.

    Never waits and never raises for a closed or slow connection: closed ones are
    skipped, slow consumers (over ``write_budget``) are closed with ``close_code``.
    ``compress=False`` sends it uncompressed everywhere.

    Example::

        @router.websocket("/ws/chat")
        async def chat(ws):
            room.add(ws)
            try:
                async for text in ws:
                    broadcast(room, text)
            finally:
                room.discard(ws)
    """
    if isinstance(message, str):
        payload = message.encode()
        opcode = 0x81
    else:
        payload = message
        opcode = 0x82
    size = len(payload)
    plain = encode_header(opcode, size) + payload
    compressed: dict[tuple[int, int, int], bytes] = {}
    sent = 0
    for ws in connections:
        if ws._fast_broadcast:  # the common case: one check per connection
            frame = plain
        else:
            conn = ws.protocol
            transport = ws._transport
            if (
                transport is None
                or transport.is_closing()
                or conn.close_sent is not None
                or conn.close_rcvd is not None
            ):
                continue
            if transport.get_write_buffer_size() > ws.write_budget:
                ws._fail(close_code, "slow consumer")
                continue
            if conn.role is Role.CLIENT or ws._fragmenting is not None:
                # Client frames are masked per connection, and a streamed message
                # must not be interleaved: let send() handle these rare cases.
                task = asyncio.ensure_future(ws.send(message, compress=compress))
                _background.add(task)
                task.add_done_callback(_discard)
                sent += 1
                continue
            frame = plain
            deflate = conn.deflate
            if (
                deflate is not None
                and deflate.local_no_context_takeover
                and (size >= deflate.threshold if compress is None else compress)
            ):
                key = deflate.params_key
                shared = compressed.get(key)
                if shared is None:
                    data = compress_message(payload, *key)
                    shared = compressed[key] = encode_header(opcode | 0x40, len(data)) + data
                frame = shared
        if ws._pending:
            ws._flush()  # messages queued by send() go first
        ws._transport.write(frame)  # type: ignore[union-attr]  # checked above or by the flag
        ws.messages_out += 1
        ws.bytes_out += len(frame)
        sent += 1
    return sent


def _discard(task: asyncio.Future[None]) -> None:
    _background.discard(task)
    if not task.cancelled():
        task.exception()  # a closed connection is not an error worth reporting
