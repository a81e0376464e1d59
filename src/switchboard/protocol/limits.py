"""Security limits, in one place.

Every buffer Switchboard keeps on behalf of a peer is bounded by one of these.
Each has a safe default; pass your own :class:`Limits` to a server or client to
change them. ``None`` means "no limit" and is only wise behind a trusted peer.

=====================  ===========  ==========================================
Field                  Default      Exceeding it
=====================  ===========  ==========================================
max_message_size       1 MiB        close 1009 "message too big"
max_frame_size         1 MiB        close 1009 "frame too big"
max_fragments          4096         close 1009 "too many fragments"
max_line_length        8 KiB        HTTP 431 (request) / handshake error
max_header_count       128          HTTP 431 (request) / handshake error
max_header_size        64 KiB       HTTP 431 (request) / handshake error
max_body_size          1 MiB        HTTP 413 (request) / handshake error
=====================  ===========  ==========================================

``max_message_size`` counts a message's payload after decompression, so a small
compressed message cannot inflate into a large one (no decompression bombs).

``max_fragments`` counts the frames of one message, checked as each frame's header
arrives. Memory does not need it (the frames of a read are reported as one
fragment), CPU does: a frame costs the same work whatever its size, so a message of
one-byte frames costs that for every byte. 4096 frames is far more than browsers and
ordinary clients send, and refuses such a flood after 28 KB instead of 7 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits for a connection. See the module docstring for the table."""

    max_message_size: int | None = 1 << 20
    max_frame_size: int | None = 1 << 20
    max_fragments: int | None = 4096
    max_line_length: int = 8192
    max_header_count: int = 128
    max_header_size: int = 64 * 1024
    max_body_size: int = 1 << 20
