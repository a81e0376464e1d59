"""Switchboard's echo server for the Autobahn|Testsuite (run by run.py server).

    python tests/conformance/autobahn_server.py PORT

`switchboard echo --max-message-size 0` (the same handler, compression on), with the
fragment limit lifted too: 9.3.* and 9.4.* send 4 MiB messages in fragments down to
64 bytes, 65,536 frames, and `Limits.max_fragments` is 4096 by default.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import switchboard
from switchboard.cli.echo import echo

# 9.* sends messages and frames of up to 16 MiB, and 4 MiB in 65,536 fragments.
LIMITS = switchboard.Limits(max_message_size=None, max_frame_size=None, max_fragments=None)


async def main(port: int) -> None:
    async with switchboard.serve(echo, "127.0.0.1", port, limits=LIMITS) as server:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.close)
        print(f"echo server listening on ws://127.0.0.1:{server.port}/", file=sys.stderr)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
