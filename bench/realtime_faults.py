"""How the Redis broker rides out faults, measured: ``python bench/realtime_faults.py``.

Two nodes (processes) on one redis-server started here on a free port; a publisher
on node A emitting to a room every 10 ms; readers on node B. Measured, each over
``--rounds`` repetitions (medians printed):

* Redis restarted (killed, started again empty): seconds from its restart until a
  publication from A reaches B again; emits refused meanwhile; node RSS before and
  after the outage.
* The pub/sub connections killed (``CLIENT KILL TYPE pubsub``): seconds until
  publications flow again.
* Node A killed with SIGKILL: seconds until its users leave presence as seen on B.

The last line is one JSON object with every sample.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "realtime"))

from redis_helpers import RedisServer, free_port  # noqa: E402

from switchboard.realtime import HubClient, HubError, connect  # noqa: E402

NODE = HERE.parent / "tests" / "realtime" / "redis_node.py"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Node:
    def __init__(self, redis: RedisServer) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(NODE), redis.url, str(self.port)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"ready"
        self.url = f"ws://127.0.0.1:{self.port}/rt"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


async def wait_until(check, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def one_round(outage: float) -> dict[str, float]:
    redis = RedisServer()
    redis.start()
    a, b = Node(redis), Node(redis)
    clients: list[HubClient] = []
    try:
        publisher = await connect(a.url, auth={"user": "pub"}, backoff=(0.05, 0.5))
        reader = await connect(b.url, auth={"user": "reader"}, backoff=(0.05, 0.5))
        gone = await connect(a.url, auth={"user": "gone"}, reconnect=False)
        clients += [publisher, reader, gone]
        received: list[float] = []
        reader.on("posted")(lambda data, meta: received.append(time.monotonic()))
        for c in clients:
            await c.join("r")
        refused = 0
        running = True

        async def publish() -> None:
            nonlocal refused
            n = 0
            while running:
                try:
                    await publisher.emit("post", {"room": "r", "n": n}, timeout=2)
                except HubError:
                    refused += 1
                n += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(publish())
        await wait_until(lambda: len(received) > 10)
        rss_before = rss_kib(a.proc.pid)

        redis.stop()
        await asyncio.sleep(outage)
        rss_during = rss_kib(a.proc.pid)
        redis.start()
        restarted = time.monotonic()
        count = len(received)
        await wait_until(lambda: len(received) > count)
        redis_back = received[-1] - restarted
        rss_after = rss_kib(a.proc.pid)

        await reader.join("r") if "r" not in reader.rooms else None
        count = len(received)
        redis.command("CLIENT", "KILL", "TYPE", "pubsub")
        killed = time.monotonic()
        await asyncio.sleep(0.05)
        count = len(received)
        await wait_until(lambda: len(received) > count)
        resubscribed = received[-1] - killed

        running = False
        await task
        await wait_until(lambda: "gone" in reader.presence("r"))
        a.kill()
        died = time.monotonic()
        await wait_until(lambda: "gone" not in reader.presence("r"), timeout=60)
        presence_leave = time.monotonic() - died
        return {
            "redis_restart_to_delivery_s": redis_back,
            "emits_refused_during_outage": float(refused),
            "rss_before_kib": float(rss_before),
            "rss_during_kib": float(rss_during),
            "rss_after_kib": float(rss_after),
            "client_kill_to_delivery_s": resubscribed,
            "sigkill_to_presence_leave_s": presence_leave,
        }
    finally:
        for c in clients:
            await c.close()
        a.kill()
        b.kill()
        redis.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--outage", type=float, default=3.0, help="seconds Redis is down")
    args = parser.parse_args()
    samples = [await one_round(args.outage) for _ in range(args.rounds)]
    print(f"{'measurement':<34} {'median':>10}   (node_ttl 1.5 s, backoff 0.1..2 s)")
    for key in samples[0]:
        print(f"{key:<34} {statistics.median(s[key] for s in samples):>10.3f}")
    print(json.dumps({"samples": samples, "outage_s": args.outage}))


if __name__ == "__main__":
    asyncio.run(main())
