"""permessage-deflate settings side by side: CPU, ratio and memory of the compressor.

    .venv/bin/python bench/deflate_table.py [--settings 6/12/5 1/12/5 ...] [--seconds 0.3]

For each setting (zlib level / window bits / memLevel), one compressor with context
takeover compresses a stream of different JSON messages of three kinds, as a server
does: chat messages (~200 B), API listings (~2 KiB) and 16 KiB record batches (the
messages of bench/run.py's deflate scenario). Each message is sync-flushed and its tail
stripped, as RFC 7692 sends it. Printed per kind: microseconds of CPU per message
(the best of three runs of ``--seconds`` each; this process's CPU time, so other load
on the machine matters less than to wall time) and the compressed size as a share of
the original. Memory is what zlib allocated for the compressor (traced by
tracemalloc: zlib allocates through PyMem_RawMalloc) after the 16 KiB stream; the
decompressor's is listed once per window size. docs/performance.md ("Compression
settings") has the results and the choice of defaults they led to.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tracemalloc
import zlib
from collections.abc import Callable

from run import json_message

DEFAULT_SETTINGS = [
    "6/15/8",  # zlib's defaults, Node's ws
    "1/15/8",  # aiohttp's
    "6/12/5",  # websockets'
    "1/12/5",
    "1/12/6",
    "1/12/7",
    "1/12/8",
    "2/12/5",
    "3/12/5",
    "1/11/5",
    "1/10/4",
    "1/9/2",
]
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "order",
    "price",
    "size",
    "bid",
    "ask",
    "user",
    "room",
    "chat",
    "hello",
    "thanks",
    "see",
    "you",
    "tomorrow",
    "meeting",
    "lunch",
    "deploy",
    "review",
    "merge",
    "ticket",
]
SYNC_TAIL = b"\x00\x00\xff\xff"


def chat(rng: random.Random, n: int) -> bytes:
    """One chat message event, about 200 bytes."""
    event = {
        "type": "chat.message",
        "room": f"room{rng.randrange(20)}",
        "from": {"id": rng.randrange(10_000), "name": f"user{rng.randrange(10_000)}"},
        "text": " ".join(rng.choices(WORDS, k=rng.randrange(4, 16))),
        "seq": n,
        "ts": 1_700_000_000_000 + n * 997,
    }
    return json.dumps(event, separators=(",", ":")).encode()


def listing(rng: random.Random, n: int, count: int = 12) -> bytes:
    """One page of an API listing, about 2 KiB."""
    page = {
        "page": n,
        "items": [
            {
                "id": n * 100 + i,
                "title": " ".join(rng.choices(WORDS, k=rng.randrange(2, 6))).title(),
                "price": round(rng.uniform(1, 500), 2),
                "stock": rng.randrange(0, 1000),
                "active": rng.random() < 0.8,
                "url": f"https://shop.example.com/items/{n * 100 + i}",
            }
            for i in range(count)
        ],
    }
    return json.dumps(page, separators=(",", ":")).encode()


def batch(rng: random.Random, n: int) -> bytes:
    """A 16 KiB batch of order records: bench/run.py's deflate message number ``n``."""
    return json_message(n)


KINDS: dict[str, Callable[[random.Random, int], bytes]] = {
    "chat ~200 B": chat,
    "listing ~2 KiB": listing,
    "batch 16 KiB": batch,
}

COUNTS = {"chat ~200 B": 1000, "listing ~2 KiB": 100, "batch 16 KiB": 16}


def messages(kind: str, count: int) -> list[bytes]:
    rng = random.Random(kind)
    return [KINDS[kind](rng, n) for n in range(count)]


def parse_setting(text: str) -> tuple[int, int, int]:
    level, bits, mem_level = (int(part) for part in text.split("/"))
    if not (0 <= level <= 9 and 9 <= bits <= 15 and 1 <= mem_level <= 9):
        raise argparse.ArgumentTypeError(f"not level/window bits/memLevel: {text!r}")
    return level, bits, mem_level


def compress_stream(
    setting: tuple[int, int, int], stream: list[bytes], seconds: float
) -> tuple[float, float]:
    """CPU microseconds per message and compressed share, through one compressor."""
    level, bits, mem_level = setting
    best = float("inf")
    share = 0.0
    for _ in range(3):
        encoder = zlib.compressobj(level, zlib.DEFLATED, -bits, mem_level)
        done = size = out = 0
        start = time.process_time()
        while (elapsed := time.process_time() - start) < seconds or done < len(stream):
            message = stream[done % len(stream)]
            data = encoder.compress(message) + encoder.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(SYNC_TAIL)
            size += len(message)
            out += len(data) - len(SYNC_TAIL)
            done += 1
        best = min(best, elapsed / done * 1e6)
        share = out / size
    return best, share


def compressor_memory(setting: tuple[int, int, int], stream: list[bytes]) -> int:
    """Bytes zlib holds for one compressor that has compressed ``stream``."""
    level, bits, mem_level = setting
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    encoder = zlib.compressobj(level, zlib.DEFLATED, -bits, mem_level)
    for message in stream:
        encoder.compress(message)
        encoder.flush(zlib.Z_SYNC_FLUSH)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del encoder
    return held


def decompressor_memory(bits: int, stream: list[bytes]) -> int:
    """Bytes zlib holds for one decompressor with a ``bits`` window after ``stream``."""
    encoder = zlib.compressobj(6, zlib.DEFLATED, -bits)
    payloads = [encoder.compress(m) + encoder.flush(zlib.Z_SYNC_FLUSH) for m in stream]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    decoder = zlib.decompressobj(-bits)
    for payload in payloads:
        decoder.decompress(payload)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del decoder
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--settings",
        nargs="+",
        type=parse_setting,
        default=[parse_setting(s) for s in DEFAULT_SETTINGS],
        help="level/window bits/memLevel, e.g. 6/12/5",
    )
    parser.add_argument("--seconds", type=float, default=0.3, help="per run (0.3)")
    args = parser.parse_args()
    # Enough different messages that a stream never repeats within a 32 KiB window.
    streams = {kind: messages(kind, count) for kind, count in COUNTS.items()}
    head = f"{'level/bits/mem':>14} {'memory':>8}"
    for kind in KINDS:
        head += f" | {kind:>16}"
    print(head)
    print(f"{'':>14} {'KiB':>8}" + " | {:>7} {:>8}".format("µs/msg", "size") * len(KINDS))
    for setting in args.settings:
        memory = compressor_memory(setting, streams["batch 16 KiB"])
        row = f"{'/'.join(map(str, setting)):>14} {memory / 1024:8.1f}"
        for stream in streams.values():
            cpu, share = compress_stream(setting, stream, args.seconds)
            row += f" | {cpu:7.1f} {share:8.1%}"
        print(row, flush=True)
    print()
    for bits in sorted({bits for _, bits, _ in args.settings}, reverse=True):
        memory = decompressor_memory(bits, streams["batch 16 KiB"])
        print(f"decompressor, {bits}-bit window: {memory / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
