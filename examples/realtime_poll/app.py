"""A live poll on switchboard.realtime: the app docs/realtime-tutorial.md builds.

People log in with a name, see who is online, ask questions and vote; every vote
moves the bars on every screen at once. Run it from the repository root::

    .venv/bin/python examples/realtime_poll/app.py      # then open http://127.0.0.1:8000/

tests/realtime/test_tutorial_example.py serves this very file, so the tutorial
cannot drift from code that runs.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import switchboard
from switchboard.realtime import (
    Hello,
    Hub,
    Identity,
    Rate,
    Rejected,
    RoomOptions,
    Session,
    Unauthorized,
)

STATIC = Path(__file__).parent / "static"
logger = logging.getLogger("poll")


# -- the data -------------------------------------------------------------------------


@dataclass
class Poll:
    id: str
    question: str
    options: list[str]
    author: str  # a user id
    votes: dict[str, int] = field(default_factory=dict)  # user id -> option index
    closed: bool = False

    @property
    def room(self) -> str:
        return f"poll:{self.id}"

    def counts(self) -> list[int]:
        counts = [0] * len(self.options)
        for option in self.votes.values():
            counts[option] += 1
        return counts

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "question": self.question, "closed": self.closed}

    def state(self, user: str) -> dict[str, Any]:
        """Everything a page needs to show the poll to ``user``."""
        return {
            **self.summary(),
            "options": self.options,
            "counts": self.counts(),
            "mine": self.votes.get(user),
            "author": self.author,
        }


class Store:
    """What the app knows: users by login token, and the polls. A real app keeps
    this in a database; here it is a dict, and it can outlive a hub (see the
    tutorial's last section)."""

    def __init__(self) -> None:
        self.users: dict[str, Identity] = {}  # login token -> who
        self.polls: dict[str, Poll] = {}

    def add_user(self, name: str) -> str:
        token = secrets.token_urlsafe(16)
        user_id = f"u-{secrets.token_hex(4)}"
        self.users[token] = Identity(user_id, {"name": name}, rooms=("lobby",))
        return token

    def add_poll(self, question: str, options: list[str], author: str) -> Poll:
        poll = Poll(secrets.token_hex(4), question, options, author)
        self.polls[poll.id] = poll
        return poll

    def poll(self, poll_id: str) -> Poll:
        poll = self.polls.get(poll_id)
        if poll is None:
            raise Rejected(f"no poll {poll_id!r}")
        return poll


# -- what clients send ----------------------------------------------------------------


@dataclass
class NewPoll:
    question: str
    options: list[str]


@dataclass
class Vote:
    poll: str
    option: int


# -- the app --------------------------------------------------------------------------


def create_app(store: Store | None = None) -> tuple[switchboard.Router, Hub]:
    """The poll app: HTTP login, the hub at /rt, the page at /."""
    store = store if store is not None else Store()
    router = switchboard.Router()
    hub = Hub(rooms=RoomOptions(history_size=200))

    @router.post("/api/login")
    def login(request: switchboard.Request) -> dict[str, str]:
        body = request.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 40:
            raise switchboard.HTTPError(400, 'send {"name": "..."}, 1 to 40 characters')
        return {"token": store.add_user(name.strip())}

    @hub.on_connect
    def identify(hello: Hello) -> Identity:
        token = hello.auth.get("token") if isinstance(hello.auth, dict) else None
        user = store.users.get(token) if isinstance(token, str) else None
        if user is None:
            raise Unauthorized("unknown token: log in again")
        return user  # its rooms=("lobby",): the hub puts the session there

    @hub.on_disconnect
    def gone(session: Session, reason: str) -> None:
        logger.info("%s left: %s", session.user.info["name"], reason)

    @hub.on("poll.list")
    def list_polls(session: Session) -> list[dict[str, Any]]:
        return [poll.summary() for poll in reversed(store.polls.values())]

    @hub.on("poll.create", rate=Rate(1, 5))  # bursts of 5, then one a second
    async def create(session: Session, data: NewPoll) -> dict[str, str]:
        question = data.question.strip()
        options = [option.strip() for option in data.options if option.strip()]
        if not 1 <= len(question) <= 200:
            raise Rejected("a question of 1 to 200 characters, please")
        if not 2 <= len(options) <= 8 or any(len(option) > 80 for option in options):
            raise Rejected("2 to 8 options of at most 80 characters, please")
        poll = store.add_poll(question, options, author=session.user.id)
        await hub.to("lobby").emit("poll.created", poll.summary())
        return {"id": poll.id}

    @hub.authorize_join
    def may_join(session: Session, room: str) -> bool:
        # Clients may join (and leave) the room of any poll that exists; "lobby"
        # is the server's business: they cannot leave it.
        return room.startswith("poll:") and room.removeprefix("poll:") in store.polls

    @hub.on("poll.get")
    def get(session: Session, poll_id: str) -> dict[str, Any]:
        return store.poll(poll_id).state(session.user.id)

    @hub.on("poll.vote")
    async def vote(session: Session, data: Vote) -> dict[str, Any]:
        poll = store.poll(data.poll)
        if poll.closed:
            raise Rejected("this poll is closed")
        if not 0 <= data.option < len(poll.options):
            raise Rejected(f"no option {data.option}")
        poll.votes[session.user.id] = data.option  # one vote per user: a new one replaces it
        tally = {"id": poll.id, "counts": poll.counts()}
        await hub.to(poll.room).emit("poll.tally", tally)
        return tally

    @hub.on("poll.close")
    async def close(session: Session, poll_id: str) -> dict[str, Any]:
        poll = store.poll(poll_id)
        if poll.author != session.user.id:
            raise Rejected("only the author can close a poll")
        poll.closed = True
        await hub.to(poll.room).emit("poll.closed", {"id": poll.id, "counts": poll.counts()})
        return {"id": poll.id, "counts": poll.counts()}

    router.mount("/rt", hub)  # the WebSocket at /rt, the browser client at /rt/client.js
    router.static("/", STATIC)  # index.html, app.js, style.css
    return router, hub


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    router, hub = create_app()
    switchboard.run(router, "127.0.0.1", 8000)
