"""One Switchboard node of a test cluster: ``python redis_node.py REDIS_URL PORT``.

``--origin ORIGIN`` (repeatable) lets browser pages of that origin connect, as well
as clients that send no Origin (by default: the server's same-origin check).

A hub on the Redis broker with a small app: the client's ``auth.user`` is its user,
anyone may join any room, ``post`` publishes to a room, ``whereami`` names the node.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import switchboard
from switchboard.realtime import Hello, Hub, Identity, RoomOptions, Session
from switchboard.realtime.brokers.redis import RedisBroker


def create(redis_url: str, port: int, **broker_options: Any) -> tuple[Hub, switchboard.Router]:
    broker = RedisBroker(redis_url, node=f"node-{port}" if port else None, **broker_options)
    hub = Hub(broker=broker, rooms=RoomOptions(presence_grace=0.2), presence_interval=0.02)

    @hub.on_connect
    def identify(hello: Hello) -> Identity | None:
        user = (hello.auth or {}).get("user")
        return Identity(user, {"name": user}) if user else None

    @hub.authorize_join
    def anyone(session: Session, room: str) -> bool:
        return True

    @hub.on("post")
    async def post(session: Session, data: dict[str, Any]) -> None:
        await hub.to(data["room"]).emit("posted", data["n"])

    @hub.on("whereami")
    def whereami(session: Session) -> int:
        return port

    router = switchboard.Router()
    router.mount("/rt", hub)
    return hub, router


async def main(redis_url: str, port: int, origins: list[str | None] | None = None) -> None:
    if origins is not None:
        origins = [*origins, None]  # and the Python clients, which send no Origin
    hub, router = create(redis_url, port, node_ttl=1.5, probe_interval=0.5, probe_timeout=2.0)
    async with switchboard.serve(router, "127.0.0.1", port, shutdown_timeout=2, origins=origins):
        await hub.start()
        print("ready", flush=True)
        await asyncio.get_running_loop().create_future()  # until killed


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("redis_url")
    parser.add_argument("port", type=int)
    parser.add_argument("--origin", action="append", dest="origins")
    args = parser.parse_args()
    asyncio.run(main(args.redis_url, args.port, args.origins))
