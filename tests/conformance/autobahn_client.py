"""Switchboard's client as an Autobahn|Testsuite echo client (run by run.py client).

Environment: AUTOBAHN_URL (the fuzzingserver, e.g. ws://127.0.0.1:9001) and
AUTOBAHN_AGENT (the name in the report).  Reads /getCaseCount, runs every case
echoing each message back as it came, then asks for /updateReports.
"""

from __future__ import annotations

import asyncio
import os
import sys

import switchboard

URL = os.environ.get("AUTOBAHN_URL", "ws://127.0.0.1:9001")
AGENT = os.environ.get("AUTOBAHN_AGENT", "switchboard")
# 9.* sends messages and frames of up to 16 MiB, and 4 MiB in 65,536 fragments.
LIMITS = switchboard.Limits(max_message_size=None, max_frame_size=None, max_fragments=None)


async def main() -> int:
    count = 0
    async with switchboard.connect(f"{URL}/getCaseCount") as ws:
        async for message in ws:
            count = int(message)
    print(f"{count} cases", flush=True)
    for case in range(1, count + 1):
        try:
            async with switchboard.connect(
                f"{URL}/runCase?case={case}&agent={AGENT}", limits=LIMITS
            ) as ws:
                async for message in ws:
                    await ws.send(message)
        except Exception as exc:  # many cases end in a protocol error on purpose
            print(f"case {case}: {type(exc).__name__}: {exc}", flush=True)
    async with switchboard.connect(f"{URL}/updateReports?agent={AGENT}") as ws:
        async for _ in ws:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
