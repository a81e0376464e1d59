"""A bot for the live poll (examples/realtime_poll/app.py): it asks a question,
prints the tally as people vote, and closes the poll after enough votes::

    .venv/bin/python examples/realtime_poll/bot.py "Lunch?" pizza sushi salad --votes 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.request
from typing import Any

from switchboard.realtime import connect
from switchboard.realtime.client import EventMeta, RoomEvent


def login(base_url: str, name: str) -> str:
    """Log in over HTTP, like the page does; return the token."""
    request = urllib.request.Request(
        f"{base_url}/api/login",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.load(response)["token"]
    return token


async def run_poll(
    base_url: str, question: str, options: list[str], votes: int
) -> list[tuple[str, int]]:
    """Ask ``question``, wait for ``votes`` votes, close the poll; return the result."""
    token = await asyncio.to_thread(login, base_url, "Poll bot")
    hub_url = base_url.replace("http", "ws", 1) + "/rt"
    async with connect(hub_url, auth={"token": token}) as client:
        tallies: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        @client.on("poll.tally")
        def tally(data: dict[str, Any], meta: EventMeta) -> None:
            tallies.put_nowait(data)  # listeners must not block: queue it

        @client.on_room
        def room_changed(change: RoomEvent) -> None:
            if change.type == "joined" and change.recovered is False:
                tallies.put_nowait(None)  # missed tallies are lost: reload the state

        poll = await client.emit("poll.create", {"question": question, "options": options})
        await client.join(f"poll:{poll['id']}")
        state = await client.emit("poll.get", poll["id"])  # votes before we joined count too
        labels: list[str] = state["options"]
        while sum(state["counts"]) < votes:
            update = await tallies.get()
            state = update if update is not None else await client.emit("poll.get", poll["id"])
            watching = [m["info"]["name"] for m in client.presence(f"poll:{poll['id']}").values()]
            print(f"{state['counts']}  watching: {', '.join(watching)}")
        result = await client.emit("poll.close", poll["id"])
        return list(zip(labels, result["counts"], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question")
    parser.add_argument("options", nargs="+")
    parser.add_argument("--votes", type=int, default=3, help="close after this many votes")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    result = asyncio.run(run_poll(args.url, args.question, args.options, args.votes))
    for option, count in result:
        print(f"{count:3}  {option}")


if __name__ == "__main__":
    main()
