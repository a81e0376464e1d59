"""The planning-poker app: its pages, HTTP API and real-time hub on one port.

======================================  ============================================
``GET /`` (and ``web/``)                the pages: home, create, room
``GET /api/decks``                      the decks and limits the create form offers
``POST /api/rooms``                     ``{name, deck, spectator?}`` -> 201
                                        ``{code, seat, token, name}`` (rate-limited)
``GET /api/rooms/{code}``               ``{code, deck, people}``, 404 unknown code
                                        (rate-limited: probing codes)
``POST /api/rooms/{code}/seats``        ``{name, spectator?}`` -> 201 ``{seat, token,
                                        name}`` (rate-limited like probing)
``GET /api/rooms/{code}/rounds.csv``    the rounds history (``Authorization: Bearer
``GET /api/rooms/{code}/rounds.md``     <seat token>``): CSV or Markdown
``/rt`` (WebSocket)                     the hub: ``auth`` is ``{room, seat: token}``
======================================  ============================================

A seat's token is its owner's secret: the browser keeps it (``localStorage``) and
sends it as the hub's ``auth``; ``on_connect`` finds the seat from it, and the seat's
id is the hub user (so several tabs of one person are one seat). Nobody else ever
sees a token: the room sees seat ids.

Every move is a hub event with an ack (``poker.vote``, ``poker.start``, ...): the
handler runs the move on the room in one SQLite transaction (the rules refuse with
``Rejected`` and change nothing), then emits ``poker.state`` to the room. That view
is built per recipient: the room's members get who has voted, never a card, until
the reveal; a voter's own card goes to that voter alone (``poker.you``, to the
user). Nothing lives only in this process but timers: the rooms are in the
database, the members in the hub, so several processes can serve one room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from switchboard import Headers, InvalidHTTP, Request, Response, Router, json_response
from switchboard.realtime import (
    Broker,
    Hello,
    Hub,
    Identity,
    Rate,
    Rejected,
    RoomOptions,
    Session,
    Unauthorized,
    Unavailable,
)

from .decks import KINDS, MAX_CARD_LENGTH, MAX_CUSTOM_CARDS, DeckChoice, build_deck
from .errors import InvalidInput, PokerError, RoomGone, SeatGone
from .export import rounds_csv, rounds_markdown
from .rooms import Rules, Table
from .rules import (
    MAX_DESCRIPTION,
    MAX_DESCRIPTION_LINES,
    MAX_NAME,
    check_code,
    clean_name,
    hash_token,
    new_seat_id,
    new_token,
)
from .store import Store

__all__ = ["create_app", "PokerApp", "HUB_PREFIX", "CLOSE_KICKED", "CLOSE_LEFT", "CLOSE_GONE"]

logger = logging.getLogger("switchboard.apps.poker")

WEB = Path(__file__).parent / "web"
HUB_PREFIX = "/rt"
CLOSE_KICKED = 4403  # 4400-4499: the client does not reconnect
CLOSE_LEFT = 4410
CLOSE_GONE = 4404  # the seat went, as a sweep found (removed or left on another node)
MAX_TOKEN = 100

_T = TypeVar("_T")


# -- what the events carry (checked by the hub before the handler runs) -------------


@dataclass
class VoteIn:
    round: int
    card: str | None


@dataclass
class SeatIn:
    seat: str


@dataclass
class TextIn:
    text: str


@dataclass
class NameIn:
    name: str


@dataclass
class SpectateIn:
    spectator: bool


def room_name(code: str) -> str:
    """The hub room of a poker room."""
    return f"poker:{code}"


class PokerApp:
    """The app: ``router`` (serve it), ``hub`` and ``store``. See :func:`create_app`."""

    def __init__(
        self,
        *,
        db_path: str | os.PathLike[str] = "poker.sqlite3",
        broker: Broker | str | None = None,
        grace: float = 3.0,
        sweep_interval: float = 10.0,
        room_ttl: float = 24 * 3600.0,
        create_limit: tuple[int, float] = (10, 60.0),
        probe_limit: tuple[int, float] = (30, 60.0),
        rules: Rules | None = None,
        rate: Rate | None = Rate(20, 40),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if grace < 0 or sweep_interval <= 0 or room_ttl <= 0:
            raise ValueError("grace must be >= 0, sweep_interval and room_ttl > 0")
        self.db_path = db_path
        self.store = Store(db_path, rules=rules or Rules())
        self.grace = grace
        self.sweep_interval = sweep_interval
        self.room_ttl = room_ttl
        self.create_limit = create_limit
        self.probe_limit = probe_limit
        self.clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Future[None] | None = None
        self._checkpointer: asyncio.Future[None] | None = None
        self._closed = False
        self.hub = Hub(
            broker=broker,
            # No history: every state is whole, and a page asks for it after each
            # (re)join. No presence grace: the app has its own (``grace``).
            rooms=RoomOptions(history_size=0, presence=True, presence_grace=0.0),
            max_rooms=1,
            max_payload=16 * 1024,
            rate=rate,
            name="poker",
        )
        self._register()
        self.router = self._routes()

    # -- helpers ------------------------------------------------------------------

    async def move(self, code: str, fn: Callable[[Table], _T]) -> tuple[_T, Table]:
        """Run ``fn`` on the room in one transaction, then send the room its new view
        if anything changed. A :class:`PokerError` from ``fn`` changes nothing."""
        with self.store.table(code, now=self.clock()) as table:
            result = fn(table)
        if table.changed and table.seats:
            await self.publish(table)
        return result, table

    async def publish(self, table: Table) -> None:
        try:
            await self.hub.to(room_name(table.room.code)).emit("poker.state", table.public_view())
        except Unavailable as exc:  # saved all the same: pages get it when they sync
            logger.warning("state of %s not sent: %s", table.room.code, exc)

    async def tell_seat(self, seat_id: str, event: str, data: Any) -> None:
        try:
            await self.hub.to_user(seat_id).emit(event, data)
        except Unavailable as exc:
            logger.warning("%s for %s not sent: %s", event, seat_id, exc)

    async def close_seat(self, seat_id: str, code: int, reason: str) -> None:
        """Close this node's connections of a seat (other nodes' sweeps close theirs)."""
        for session in self.hub.sessions:
            if session.user.id == seat_id:
                await session.close(code, reason)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the hub ------------------------------------------------------------------

    def _register(self) -> None:
        hub = self.hub

        @hub.on_connect
        async def identify(hello: Hello) -> Identity:
            auth = hello.auth if isinstance(hello.auth, dict) else {}
            token = auth.get("seat")
            try:
                code = check_code(auth.get("room"))
                if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
                    raise SeatGone("No seat token: join the room first.")
                seat_id = self.store.seat_for_token(code, hash_token(token))
                await self.move(code, lambda table: table.connect(seat_id, self.clock()))
            except PokerError as exc:
                raise Unauthorized(f"{exc.reason}: {exc}") from None
            return Identity(seat_id, {"room": code}, rooms=(room_name(code),))

        @hub.on_disconnect
        def disconnected(session: Session, reason: str) -> None:
            code = session.user.info.get("room")
            if isinstance(code, str) and not self._closed:
                self._spawn(self._grace_over(code, session.user.id, self.clock()))

        def seat_of(session: Session) -> tuple[str, str]:
            return str(session.user.info["room"]), session.user.id

        async def play(session: Session, fn: Callable[[Table, str], _T]) -> tuple[_T, Table]:
            code, seat_id = seat_of(session)
            try:
                return await self.move(code, lambda table: fn(table, seat_id))
            except PokerError as exc:
                raise Rejected(str(exc), details={"reason": exc.reason}) from None

        @hub.on("poker.sync", rate=Rate(5, 20))
        def sync(session: Session) -> dict[str, Any]:
            """The whole state, for a page that (re)joined: what the room sees and
            what this seat sees of itself."""
            code, seat_id = seat_of(session)
            try:
                table = self.store.read(code)
                return {"state": table.public_view(), "you": table.private_view(seat_id)}
            except PokerError as exc:
                raise Rejected(str(exc), details={"reason": exc.reason}) from None

        @hub.on("poker.vote", rate=Rate(10, 20))
        async def vote(session: Session, data: VoteIn) -> dict[str, Any]:
            now = self.clock()
            seat, table = await play(session, lambda t, me: t.vote(me, data.round, data.card, now))
            mine = table.private_view(seat.id)
            if table.changed:
                await self.tell_seat(seat.id, "poker.you", mine)
            return mine

        @hub.on("poker.start")
        async def start(session: Session) -> dict[str, Any]:
            now = self.clock()
            _, table = await play(session, lambda t, me: t.start(me, now))
            return {"round": table.room.round}

        @hub.on("poker.reveal")
        async def reveal(session: Session) -> dict[str, Any]:
            now = self.clock()
            played, _ = await play(session, lambda t, me: t.reveal(me, now))
            return {"round": played.n, "stats": played.stats}

        @hub.on("poker.describe", rate=Rate(2, 10))
        async def describe(session: Session, data: TextIn) -> dict[str, Any]:
            _, table = await play(session, lambda t, me: t.describe(me, data.text))
            return {"description": table.room.description}

        @hub.on("poker.kick")
        async def kick(session: Session, data: SeatIn) -> dict[str, Any]:
            seat, _ = await play(session, lambda t, me: t.kick(me, data.seat))
            await self.tell_seat(seat.id, "poker.kicked", {"room": seat_of(session)[0]})
            await self.close_seat(seat.id, CLOSE_KICKED, "removed from the room")
            return {"seat": seat.id, "name": seat.name}

        @hub.on("poker.hand_over")
        async def hand_over(session: Session, data: SeatIn) -> dict[str, Any]:
            seat, _ = await play(session, lambda t, me: t.hand_over(me, data.seat))
            return {"moderator": seat.id, "name": seat.name}

        @hub.on("poker.rename", rate=Rate(1, 5))
        async def rename(session: Session, data: NameIn) -> dict[str, Any]:
            seat, _ = await play(session, lambda t, me: t.rename(me, data.name))
            return {"name": seat.name}

        @hub.on("poker.spectate", rate=Rate(1, 5))
        async def spectate(session: Session, data: SpectateIn) -> dict[str, Any]:
            seat, table = await play(session, lambda t, me: t.spectate(me, data.spectator))
            if table.changed:
                await self.tell_seat(seat.id, "poker.you", table.private_view(seat.id))
            return {"spectator": seat.spectator}

        @hub.on("poker.leave")
        async def leave(session: Session) -> dict[str, Any]:
            """Leave for good: the seat goes (and the moderator role passes on). The
            seat's other tabs are told; this one closes itself after the ack."""
            seat, _ = await play(session, lambda t, me: t.leave(me))
            await self.tell_seat(seat.id, "poker.left", {"room": seat_of(session)[0]})
            self._spawn(self._close_later(seat.id))
            return {"left": True}

        @hub.on("poker.rounds", rate=Rate(2, 10))
        def rounds(session: Session) -> dict[str, Any]:
            code, _ = seat_of(session)
            return {"rounds": [played.to_json() for played in self.store.rounds(code)]}

    async def _close_later(self, seat_id: str) -> None:
        await asyncio.sleep(1.0)  # the ack first; a well-behaved page has gone by then
        await self.close_seat(seat_id, CLOSE_LEFT, "left the room")

    async def _grace_over(self, code: str, seat_id: str, since: float) -> None:
        """``grace`` seconds after a connection of a seat closed: if the seat has no
        connection left on any node (and none arrived since), it is away."""
        await asyncio.sleep(self.grace)
        try:
            members = await self.hub.presence(room_name(code))
        except Unavailable:
            return  # the next sweep tries again
        if seat_id in members and members[seat_id].connections > 0:
            return
        with contextlib.suppress(PokerError):  # the room or the seat went meanwhile
            await self.move(code, lambda table: table.away(seat_id, since))

    async def sweep(self) -> None:
        """What timers of a process that died would have done, and expiry: seats
        marked present with no connection on any node start their grace now; this
        node's connections of seats removed elsewhere are closed; rooms idle for
        ``room_ttl`` with nobody in them are deleted."""
        now = self.clock()
        for code, seat_ids in self.store.present_seats().items():
            try:
                members = await self.hub.presence(room_name(code))
            except Unavailable:
                return
            for seat_id in seat_ids:
                if seat_id not in members:
                    self._spawn(self._grace_over(code, seat_id, now))
        local = [s for s in self.hub.sessions if isinstance(s.user.info.get("room"), str)]
        alive = self.store.existing_seats([s.user.id for s in local])
        for session in local:
            if session.user.id not in alive:
                await session.close(CLOSE_GONE, "not in the room any more")
        expired = self.store.expire(idle_before=now - self.room_ttl, now=now)
        if expired:
            logger.info("expired %d idle room(s): %s", len(expired), ", ".join(expired))

    async def _checkpoint_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await asyncio.to_thread(self.store.checkpoint)
            except Exception:
                logger.exception("checkpoint failed")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                logger.exception("sweep failed")

    async def start(self) -> None:
        """Start the sweeps (the server's startup hook)."""
        self._closed = False
        self.store.open()
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep_forever())
            self._checkpointer = asyncio.ensure_future(self._checkpoint_forever())

    async def close(self) -> None:
        """Stop the sweeps and timers and close the database (the shutdown hook)."""
        self._closed = True
        for task in (self._sweeper, self._checkpointer):
            if task is not None:
                task.cancel()
        self._sweeper = self._checkpointer = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.store.close()

    # -- HTTP -----------------------------------------------------------------------

    def _limited(self, request: Request, action: str, limit: tuple[int, float]) -> Response | None:
        """429 once ``request``'s address has done ``action`` too often."""
        address = request.client_address or "unknown"
        wait = self.store.hit(address, action, limit=limit[0], window=limit[1], now=self.clock())
        if not wait:
            return None
        return json_response(
            {
                "error": "Too many attempts. Please wait and try again later.",
                "reason": "rate_limited",
                "retry_after": round(wait, 1),
            },
            429,
            [("Retry-After", str(int(wait + 0.999)))],
        )

    def _routes(self) -> Router:
        router = Router()
        store = self.store

        @router.get("/api/decks")
        def decks(request: Request) -> dict[str, Any]:
            return {
                "decks": [kind.to_json() for kind in KINDS.values()],
                "limits": {
                    "name": MAX_NAME,
                    "description": MAX_DESCRIPTION,
                    "description_lines": MAX_DESCRIPTION_LINES,
                    "custom_cards": MAX_CUSTOM_CARDS,
                    "card_length": MAX_CARD_LENGTH,
                    "seats": store.rules.max_seats,
                },
            }

        @router.post("/api/rooms")
        def create(request: Request) -> Response:
            refused = _refuse_post(request) or self._limited(request, "create", self.create_limit)
            if refused is not None:
                return refused
            try:
                body = _json_object(request)
                name = clean_name(body.get("name"))  # before the room exists
                deck = build_deck(_deck_choice(body.get("deck")))
                spectator = _flag(body, "spectator")
                token = new_token()
                now = self.clock()
                room = store.create_room(deck, now=now)
                with store.table(room.code, now=now) as table:
                    seat = table.join(new_seat_id(), name, hash_token(token), spectator=spectator)
            except PokerError as exc:
                return _error(exc)
            logger.info("room %s created (%s deck)", room.code, deck.kind)
            return json_response(
                {"code": room.code, "seat": seat.id, "token": token, "name": seat.name}, 201
            )

        @router.get("/api/rooms/{code}")
        def probe(request: Request) -> Response:
            refused = self._limited(request, "probe", self.probe_limit)
            if refused is not None:
                return refused
            try:
                code = check_code(request.path_params["code"])
            except PokerError as exc:
                return _error(exc)
            found = store.summary(code)
            if found is None:
                return _error(RoomGone("A room does not exist with that code. Try again."))
            return json_response(found)

        @router.post("/api/rooms/{code}/seats")
        async def join(request: Request) -> Response:
            refused = _refuse_post(request) or self._limited(request, "probe", self.probe_limit)
            if refused is not None:
                return refused
            try:
                code = check_code(request.path_params["code"])
                body = _json_object(request)
                spectator = _flag(body, "spectator")
                token = new_token()
                seat, _ = await self.move(
                    code,
                    lambda table: table.join(
                        new_seat_id(), body.get("name"), hash_token(token), spectator=spectator
                    ),
                )
            except PokerError as exc:
                return _error(exc)
            return json_response({"seat": seat.id, "token": token, "name": seat.name}, 201)

        def export(request: Request, kind: str) -> Response:
            header = request.headers.get("Authorization") or ""
            scheme, _, token = header.partition(" ")
            try:
                code = check_code(request.path_params["code"])
                if scheme.lower() != "bearer" or not 0 < len(token) <= MAX_TOKEN:
                    raise SeatGone("no seat token")
                store.seat_for_token(code, hash_token(token.strip()))
            except PokerError:
                return json_response(
                    {
                        "error": "Only the room's members can export its rounds.",
                        "reason": "not_allowed",
                    },
                    401,
                    [("WWW-Authenticate", 'Bearer realm="poker"')],
                )
            played = store.rounds(code)
            if kind == "csv":
                body, media = rounds_csv(played), "text/csv; charset=utf-8"
            else:
                deck = store.read(code).room.deck
                body = rounds_markdown(code, deck, played, now=self.clock())
                media = "text/markdown; charset=utf-8"
            headers = Headers(
                [
                    ("Content-Type", media),
                    ("Content-Disposition", f'attachment; filename="poker-{code}.{kind}"'),
                    ("Cache-Control", "no-store"),
                ]
            )
            return Response(200, headers=headers, body=body.encode())

        router.get("/api/rooms/{code}/rounds.csv")(lambda request: export(request, "csv"))
        router.get("/api/rooms/{code}/rounds.md")(lambda request: export(request, "md"))

        router.mount(HUB_PREFIX, self.hub)
        router.add_startup(self.start)
        router.add_shutdown(self.close)
        router.static("/", WEB, max_age=0)
        return router


def create_app(
    *,
    db_path: str | os.PathLike[str] = "poker.sqlite3",
    broker: Broker | str | None = None,
    grace: float = 3.0,
    **options: Any,
) -> Router:
    """The planning-poker app as a router: ``switchboard.serve(router, host, port)``.

    ``db_path``: the SQLite file (created if need be; ``":memory:"`` for a throwaway
    one). ``broker``: the hub's broker (a Redis URL to run several processes, each
    with the same ``db_path``). ``grace``: seconds a dropped seat stays present
    before it is shown away and a moderator's role passes on. More options: see
    :class:`PokerApp` (``sweep_interval``, ``room_ttl``, ``create_limit``,
    ``probe_limit``, ``rules``, ``rate``).
    """
    return PokerApp(db_path=db_path, broker=broker, grace=grace, **options).router


# -- HTTP helpers ---------------------------------------------------------------------


def _error(exc: PokerError) -> Response:
    status = {"no_room": 404, "no_seat": 404, "not_allowed": 403}.get(exc.reason, 400)
    return json_response({"error": str(exc), "reason": exc.reason}, status)


def _refuse_post(request: Request) -> Response | None:
    """A state-changing request must be JSON (so a cross-site form cannot send it)
    and, when it says where it comes from, come from this site."""
    origin = request.headers.get("Origin")
    host = request.headers.get("Host") or ""
    if origin is not None and origin.partition("://")[2].lower() != host.lower():
        return json_response({"error": "cross-site request refused", "reason": "origin"}, 403)
    media = (request.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    if media != "application/json":
        return json_response(
            {"error": "send JSON (Content-Type: application/json)", "reason": "media_type"}, 415
        )
    return None


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except InvalidHTTP as exc:
        raise InvalidInput(str(exc)) from None
    if not isinstance(body, dict):
        raise InvalidInput("expected a JSON object")
    return body


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} is true or false")
    return value


def _deck_choice(raw: object) -> DeckChoice:
    if not isinstance(raw, dict):
        raise InvalidInput('deck: expected an object like {"kind": "fibonacci"}')
    unknown = set(raw) - {"kind", "range", "no_vote", "custom"}
    if unknown:
        raise InvalidInput(f"deck: unknown field {sorted(unknown)[0]!r}")
    kind = raw.get("kind")
    span = raw.get("range")
    custom = raw.get("custom")
    if not isinstance(kind, str):
        raise InvalidInput("deck.kind: expected a string")
    if span is not None and not (
        isinstance(span, list) and len(span) == 2 and all(type(i) is int for i in span)
    ):
        raise InvalidInput("deck.range: expected two card positions, like [0, 5]")
    if custom is not None and not (
        isinstance(custom, list) and len(custom) <= 50 and all(isinstance(c, str) for c in custom)
    ):
        raise InvalidInput("deck.custom: expected a list of cards (strings)")
    no_vote = raw.get("no_vote", False)
    if not isinstance(no_vote, bool):
        raise InvalidInput("deck.no_vote: expected true or false")
    return DeckChoice(
        kind,  # type: ignore[arg-type]  # build_deck checks it
        range=None if span is None else (span[0], span[1]),
        no_vote=no_vote,
        custom=custom,
    )
