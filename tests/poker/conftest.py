"""The poker app on a real server on 127.0.0.1, with real clients: HTTP requests for
the API, the Python hub client (``switchboard.realtime.connect``) for the table, and
raw WebSockets for what a well-behaved client never sends or to read every frame."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import switchboard
from switchboard.apps.poker import PokerApp
from switchboard.realtime import SUBPROTOCOL, HubClient


@dataclass
class HTTPResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Player:
    """One person at the table: their seat, token and a hub client that records what
    it is sent."""

    name: str
    seat: str
    token: str
    code: str
    client: HubClient
    states: list[dict[str, Any]] = field(default_factory=list)
    mine: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any]:
        return self.states[-1]

    async def emit(self, event: str, data: Any = None) -> Any:
        return await self.client.emit(event, data)

    async def sync(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self.client.emit("poker.sync")
        self.states.append(answer["state"])
        return answer

    def seat_view(self, seat: str) -> dict[str, Any]:
        return next(s for s in self.state["seats"] if s["id"] == seat)


class Poker:
    """The app served on 127.0.0.1; ``restart()`` serves a new app on the same file."""

    def __init__(self, db_path: Path, **options: Any) -> None:
        self.db_path = db_path
        self.options = options
        self.app = PokerApp(db_path=db_path, **options)
        self.server: switchboard.Server | None = None
        self.port = 0
        self.players: list[Player] = []
        self.raws: list[switchboard.WebSocket] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/rt"

    async def start(self) -> None:
        self.server = await switchboard.serve(self.app.router, "127.0.0.1", self.port)
        self.port = self.server.port

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close(1012, "service restart")
        await self.server.wait_closed()
        self.server = None

    async def restart(self, **options: Any) -> None:
        """Stop, then serve a new app (a new process, as far as it knows) on the same
        database and port."""
        await self.stop()
        self.app = PokerApp(db_path=self.db_path, **{**self.options, **options})
        await self.start()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> HTTPResult:
        sent = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        return await asyncio.to_thread(_request, self.port, method, path, data, sent)

    async def create(self, name: str = "Ann", deck: Any = None, **fields: Any) -> dict[str, Any]:
        result = await self.request(
            "POST", "/api/rooms", {"name": name, "deck": deck or {"kind": "fibonacci"}, **fields}
        )
        assert result.status == 201, result.body
        created: dict[str, Any] = result.json()
        return created

    async def seat(self, code: str, name: str, **fields: Any) -> dict[str, Any]:
        result = await self.request("POST", f"/api/rooms/{code}/seats", {"name": name, **fields})
        assert result.status == 201, result.body
        seated: dict[str, Any] = result.json()
        return seated

    async def player(
        self, code: str, seated: dict[str, Any], *, auth: Any = ..., **options: Any
    ) -> Player:
        """Connect a hub client for a seat (``auth``: instead of the seat's) and record
        its events."""
        options.setdefault("backoff", (0.05, 0.2))
        if auth is ...:
            auth = {"room": code, "seat": seated["token"]}
        client = HubClient(self.url, auth=auth, **options)
        player = Player(seated["name"], seated["seat"], seated["token"], code, client)

        @client.on("poker.state")
        def state(data: Any, meta: Any) -> None:
            if not player.states or data["v"] > player.states[-1]["v"]:
                player.states.append(data)

        for event in ("poker.you", "poker.kicked", "poker.left"):
            client.on(event)(_recorder(player, event))

        await client.start()
        self.players.append(player)
        await player.sync()
        return player

    async def room(self, *names: str, deck: Any = None) -> list[Player]:
        """A room created by the first name, the others joined, all connected."""
        created = await self.create(names[0], deck)
        code = created["code"]
        players = [await self.player(code, created)]
        for name in names[1:]:
            players.append(await self.player(code, await self.seat(code, name)))
        for player in players:
            await until(
                lambda p=player: (
                    len(p.state["seats"]) == len(names)
                    and all(s["present"] for s in p.state["seats"])
                )
            )
        return players

    async def raw(self, hello: dict[str, Any]) -> switchboard.WebSocket:
        ws = await switchboard.connect(self.url, subprotocols=[SUBPROTOCOL])
        self.raws.append(ws)
        await ws.send(json.dumps(hello))
        return ws

    async def close(self) -> None:
        for player in self.players:
            await player.client.close()
        for ws in self.raws:
            await ws.close()
        if self.server is not None:
            await self.stop()


def _recorder(player: Player, event: str) -> Callable[[Any, Any], None]:
    def record(data: Any, meta: Any) -> None:
        player.events.append((event, data))
        if event == "poker.you":
            player.mine.append(data)

    return record


def _request(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> HTTPResult:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return HTTPResult(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def recv_json(ws: switchboard.WebSocket, timeout: float = 5.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str)
    value: dict[str, Any] = json.loads(message)
    return value


@pytest.fixture
async def make_poker(tmp_path: Path) -> AsyncIterator[Callable[..., Poker]]:
    """Make (not start) a served app; all are closed at the end of the test."""
    made: list[Poker] = []

    def make(**options: Any) -> Poker:
        options.setdefault("grace", 0.3)
        options.setdefault("sweep_interval", 0.5)
        poker = Poker(tmp_path / f"poker{len(made)}.sqlite3", **options)
        made.append(poker)
        return poker

    yield make
    for poker in made:
        await poker.close()


@pytest.fixture
async def poker(make_poker: Callable[..., Poker]) -> Poker:
    served = make_poker()
    await served.start()
    return served
