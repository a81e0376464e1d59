"""Where rooms live: SQLite (the standard library's ``sqlite3``), in WAL mode.

Everything the app knows is here: rooms, seats (with the hash of each seat's secret
token), the rounds history and the per-address counters of the rate limits. Several
processes may share one database file (the nodes of one host behind the Redis
broker): every move is one ``BEGIN IMMEDIATE`` transaction that reads the room,
checks the rules and writes what changed, so two nodes never interleave a room's
moves, and each room's ``version`` orders the views they send.

Example::

    store = Store("poker.sqlite3")
    room = store.create_room(build_deck(DeckChoice("fibonacci")), now=time.time())
    with store.table(room.code, now=time.time()) as table:
        table.join(new_seat_id(), "Ann", hash_token(token))
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .decks import Deck, deck_from_json
from .errors import RoomGone, SeatGone
from .rooms import Room, Round, Rules, Seat, Table
from .rules import new_code

__all__ = ["Store"]

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY,
    deck TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    moderator TEXT,
    returning_moderator TEXT,
    phase TEXT NOT NULL DEFAULT 'waiting',
    round INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '',
    started REAL,
    next_seq INTEGER NOT NULL DEFAULT 0,
    rounds INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rooms_updated ON rooms (updated);
CREATE TABLE IF NOT EXISTS seats (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL REFERENCES rooms (code) ON DELETE CASCADE,
    token TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    spectator INTEGER NOT NULL DEFAULT 0,
    present INTEGER NOT NULL DEFAULT 0,
    connected REAL NOT NULL DEFAULT 0,
    vote TEXT,
    voted REAL,
    confidence INTEGER
);
CREATE INDEX IF NOT EXISTS seats_room ON seats (room);
CREATE TABLE IF NOT EXISTS rounds (
    room TEXT NOT NULL REFERENCES rooms (code) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    description TEXT NOT NULL,
    started REAL NOT NULL,
    revealed REAL NOT NULL,
    votes TEXT NOT NULL,
    stats TEXT NOT NULL,
    PRIMARY KEY (room, n)
);
CREATE TABLE IF NOT EXISTS hits (
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    slot INTEGER NOT NULL,
    count INTEGER NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (address, action, slot)
);
"""


class Store:
    """The app's SQLite database (``path``, or ``":memory:"`` for a throwaway one).

    ``rules`` go into every :class:`Table` it loads; ``max_rounds`` is how many
    revealed rounds each room keeps (the oldest go first).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        rules: Rules | None = None,
        max_rounds: int = 500,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = os.fspath(path)
        self.rules = rules or Rules()
        self.max_rounds = max_rounds
        self.busy_timeout = busy_timeout
        self._open = False
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing = threading.Lock()
        self.open()

    def open(self) -> None:
        """Connect to the database (done by the constructor; again after close)."""
        if self._open:
            return
        # Autocommit mode: the transactions below are explicit. One thread at a time
        # (the event loop's), whichever thread opened it.
        self.db = sqlite3.connect(
            self.path, isolation_level=None, timeout=self.busy_timeout, check_same_thread=False
        )
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across crashes
        # No checkpoint inside a move: its fsync would stall the event loop (by 100 ms
        # and more on a busy disk). checkpoint() does it, in another thread.
        self.db.execute("PRAGMA wal_autocheckpoint = 0")
        self.db.execute("PRAGMA foreign_keys = ON")
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._open = True

    def close(self) -> None:
        with self._checkpointing:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        if self._open:
            self._open = False
            self.db.close()  # the last connection to close checkpoints what is left

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, and sync it. It has a
        connection of its own, so it may run in another thread while moves go on
        (``await asyncio.to_thread(store.checkpoint)``): moves never wait for it."""
        with self._checkpointing:
            if not self._open:
                return
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    timeout=self.busy_timeout,
                    check_same_thread=False,
                )
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` (or a read snapshot), committed unless it raises."""
        self.db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- rooms ----------------------------------------------------------------------

    def create_room(
        self, deck: Deck, *, now: float, code: Callable[[], str] = new_code, attempts: int = 20
    ) -> Room:
        """A new room with a random code that no other room has."""
        for _ in range(attempts):
            room = Room(code(), deck, created=now, updated=now)
            try:
                with self.transaction() as db:
                    db.execute(
                        "INSERT INTO rooms (code, deck, created, updated) VALUES (?, ?, ?, ?)",
                        (room.code, json.dumps(deck.to_json()), now, now),
                    )
            except sqlite3.IntegrityError:
                continue  # that code is taken: draw another
            return room
        raise RuntimeError(f"no free room code after {attempts} attempts")

    @contextmanager
    def table(self, code: str, *, now: float) -> Iterator[Table]:
        """A room loaded for a move, saved when the block ends without an exception
        (nothing is written when the move is refused). Raises :class:`RoomGone`."""
        with self.transaction():
            table = self._load(code)
            yield table
            self._save(table, now)

    def read(self, code: str) -> Table:
        """A room as it is now, for reading only. Raises :class:`RoomGone`."""
        with self.transaction(write=False):
            return self._load(code)

    def summary(self, code: str) -> dict[str, Any] | None:
        """What someone with the code learns before joining: the deck and how many
        people are in the room; ``None`` for an unknown code."""
        row = self.db.execute(
            "SELECT deck, (SELECT count(*) FROM seats WHERE room = code) AS people "
            "FROM rooms WHERE code = ?",
            (code,),
        ).fetchone()
        if row is None:
            return None
        return {"code": code, "deck": json.loads(row["deck"]), "people": row["people"]}

    def seat_for_token(self, code: str, token: str) -> str:
        """The id of the seat whose token hashes to ``token`` in room ``code``.
        Raises :class:`RoomGone` or :class:`SeatGone`."""
        row = self.db.execute("SELECT id, room FROM seats WHERE token = ?", (token,)).fetchone()
        if row is None or row["room"] != code:
            if self.db.execute("SELECT 1 FROM rooms WHERE code = ?", (code,)).fetchone() is None:
                raise RoomGone("A room does not exist with that code.")
            raise SeatGone("You are not in this room (any more).")
        return str(row["id"])

    def rounds(self, code: str) -> list[Round]:
        """The room's revealed rounds, oldest first."""
        rows = self.db.execute("SELECT * FROM rounds WHERE room = ? ORDER BY n", (code,)).fetchall()
        return [
            Round(
                n=row["n"],
                description=row["description"],
                started=row["started"],
                revealed=row["revealed"],
                votes=json.loads(row["votes"]),
                stats=json.loads(row["stats"]),
            )
            for row in rows
        ]

    # -- housekeeping ---------------------------------------------------------------

    def present_seats(self) -> dict[str, list[str]]:
        """``{room code: [seat id, ...]}`` for the seats marked present."""
        found: dict[str, list[str]] = {}
        for row in self.db.execute("SELECT room, id FROM seats WHERE present = 1"):
            found.setdefault(row["room"], []).append(row["id"])
        return found

    def existing_seats(self, seat_ids: list[str]) -> set[str]:
        """Those of ``seat_ids`` that still have a seat."""
        found: set[str] = set()
        for start in range(0, len(seat_ids), 500):
            chunk = seat_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT id FROM seats WHERE id IN ({marks})", chunk)
            found.update(row["id"] for row in rows)
        return found

    def expire(self, *, idle_before: float, now: float) -> list[str]:
        """Delete the rooms untouched since ``idle_before`` in which nobody is present
        (a room with someone in it is touched instead); return their codes."""
        with self.transaction() as db:
            db.execute(
                "UPDATE rooms SET updated = ? WHERE updated < ? AND EXISTS "
                "(SELECT 1 FROM seats WHERE seats.room = rooms.code AND present = 1)",
                (now, idle_before),
            )
            codes = [
                row["code"]
                for row in db.execute("SELECT code FROM rooms WHERE updated < ?", (idle_before,))
            ]
            db.execute("DELETE FROM rooms WHERE updated < ?", (idle_before,))
            db.execute("DELETE FROM hits WHERE expires < ?", (now,))
        return codes

    def hit(self, address: str, action: str, *, limit: int, window: float, now: float) -> float:
        """Count one ``action`` by ``address``: 0.0 when within ``limit`` per
        ``window`` seconds (a sliding window), else the seconds to wait."""
        slot = int(now // window)
        with self.transaction() as db:
            row = db.execute(
                "INSERT INTO hits (address, action, slot, count, expires) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (address, action, slot) DO UPDATE SET count = count + 1 "
                "RETURNING count",
                (address, action, slot, (slot + 2) * window),
            ).fetchone()
            previous = db.execute(
                "SELECT count FROM hits WHERE address = ? AND action = ? AND slot = ?",
                (address, action, slot - 1),
            ).fetchone()
        into = (now - slot * window) / window  # how far into this slot, 0 to 1
        estimate = row["count"] + (previous["count"] if previous else 0) * (1 - into)
        if estimate <= limit:
            return 0.0
        return max(0.1, (slot + 1) * window - now)

    # -- loading and saving ---------------------------------------------------------

    def _load(self, code: str) -> Table:
        row = self.db.execute("SELECT * FROM rooms WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise RoomGone("A room does not exist with that code.")
        room = Room(
            code=row["code"],
            deck=deck_from_json(json.loads(row["deck"])),
            created=row["created"],
            updated=row["updated"],
            version=row["version"],
            moderator=row["moderator"],
            returning=row["returning_moderator"],
            phase=row["phase"],
            round=row["round"],
            description=row["description"],
            started=row["started"],
            next_seq=row["next_seq"],
            rounds=row["rounds"],
        )
        seats = {
            seat["id"]: Seat(
                id=seat["id"],
                name=seat["name"],
                token=seat["token"],
                seq=seat["seq"],
                spectator=bool(seat["spectator"]),
                present=bool(seat["present"]),
                connected=seat["connected"],
                vote=seat["vote"],
                voted=seat["voted"],
                confidence=seat["confidence"],
            )
            for seat in self.db.execute("SELECT * FROM seats WHERE room = ?", (code,))
        }
        return Table(room, seats, self.rules)

    def _save(self, table: Table, now: float) -> None:
        room, db = table.room, self.db
        if not table.changed and not table.dirty:
            return
        if not table.seats:  # the last person left: the room goes
            db.execute("DELETE FROM rooms WHERE code = ?", (room.code,))
            return
        if table.changed:
            room.version += 1
            room.updated = now
        db.execute(
            "UPDATE rooms SET updated = ?, version = ?, moderator = ?, returning_moderator = ?, "
            "phase = ?, round = ?, description = ?, started = ?, next_seq = ?, rounds = ? "
            "WHERE code = ?",
            (
                room.updated,
                room.version,
                room.moderator,
                room.returning,
                room.phase,
                room.round,
                room.description,
                room.started,
                room.next_seq,
                room.rounds,
                room.code,
            ),
        )
        for seat_id in table.removed:
            db.execute("DELETE FROM seats WHERE id = ?", (seat_id,))
        for seat_id in table.dirty:
            s = table.seats.get(seat_id)
            if s is None:
                continue
            db.execute(
                "INSERT INTO seats (id, room, token, name, seq, spectator, present, connected, "
                "vote, voted, confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "spectator = excluded.spectator, present = excluded.present, "
                "connected = excluded.connected, vote = excluded.vote, voted = excluded.voted, "
                "confidence = excluded.confidence",
                (
                    s.id,
                    room.code,
                    s.token,
                    s.name,
                    s.seq,
                    int(s.spectator),
                    int(s.present),
                    s.connected,
                    s.vote,
                    s.voted,
                    s.confidence,
                ),
            )
        played = table.revealed
        if played is not None:
            db.execute(
                "INSERT OR REPLACE INTO rounds (room, n, description, started, revealed, votes, "
                "stats) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    room.code,
                    played.n,
                    played.description,
                    played.started,
                    played.revealed,
                    json.dumps(played.votes),
                    json.dumps(played.stats),
                ),
            )
            db.execute(
                "DELETE FROM rounds WHERE room = ? AND n <= ?",
                (room.code, played.n - self.max_rounds),
            )
