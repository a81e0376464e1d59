"""The game through the hub, with the Python client against a real server: a round
from start to reveal, secret votes (on the wire too), who may do what, bad input,
flooding, seats and tokens, tabs, the grace period, kicks, hand-overs, leaving,
spectators and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from switchboard.apps.poker import Store
from switchboard.realtime import (
    HubError,
    InvalidPayload,
    RateLimited,
    Rejected,
    Unauthorized,
)

from .conftest import Player, Poker, recv_json, until
from .frames import votes_in

pytestmark = pytest.mark.timeout(60)


async def refused(player: Player, event: str, data: Any = None) -> Rejected:
    """Send a move the rules refuse: a clear error ack, and nothing changed."""
    before = (await player.sync())["state"]
    with pytest.raises(Rejected) as caught:
        await player.emit(event, data)
    assert (await player.sync())["state"] == before
    return caught.value


# -- a round ------------------------------------------------------------------------------


async def test_a_full_round_with_secret_votes(poker: Poker) -> None:
    ann, bob, cy = await poker.room("Ann", "Bob", "Cy")
    assert ann.state["moderator"] == ann.seat
    assert [s["name"] for s in cy.state["seats"]] == ["Ann", "Bob", "Cy"]

    assert await ann.emit("poker.describe", {"text": "Login page https://example.com/1"}) == {
        "description": "Login page https://example.com/1"
    }
    assert await ann.emit("poker.start") == {"round": 1}
    await until(lambda: all(p.state["phase"] == "voting" for p in (ann, bob, cy)))
    mine = await bob.emit("poker.vote", {"round": 1, "card": "5"})
    assert (mine["seat"], mine["vote"], mine["confidence"]) == (bob.seat, "5", "high")
    await cy.emit("poker.vote", {"round": 1, "card": "8"})
    await cy.emit("poker.vote", {"round": 1, "card": "3"})  # changed her mind
    await ann.emit("poker.vote", {"round": 1, "card": "5"})
    await until(lambda: all(s["voted"] for s in ann.state["seats"]))

    # Nobody was ever sent a card before the reveal, but the voter their own.
    for player in (ann, bob, cy):
        assert all(votes_in(state) == [] for state in player.states)
    assert [m["vote"] for m in cy.mine] == ["8", "3"]
    assert bob.mine[-1]["vote"] == "5"

    answer = await ann.emit("poker.reveal")
    assert answer["round"] == 1
    assert answer["stats"] == {
        "kind": "range",
        "votes": 3,
        "did_not_vote": 0,
        "no_vote": 0,
        "confidence": "high",
        "low": "3",
        "high": "5",
        "mode": "5",
        "mean": 4.3,
    }
    await until(lambda: cy.state["phase"] == "revealed")
    assert {s["name"]: s["vote"] for s in cy.state["seats"]} == {"Ann": "5", "Bob": "5", "Cy": "3"}
    assert cy.state["stats"] == answer["stats"]
    assert cy.state["rounds"] == 1

    rounds = (await bob.emit("poker.rounds"))["rounds"]
    assert [(r["n"], r["description"]) for r in rounds] == [(1, "Login page https://example.com/1")]
    assert [v["vote"] for v in rounds[0]["votes"]] == ["5", "5", "3"]

    # The next round takes every card back.
    await ann.emit("poker.start")
    await until(lambda: bob.state["round"] == 2)
    assert not any(s["voted"] for s in bob.state["seats"])
    assert (await bob.sync())["you"] == {
        "v": bob.state["v"],
        "seat": bob.seat,
        "round": 2,
        "vote": None,
        "confidence": None,
    }


async def test_no_card_crosses_the_wire_before_the_reveal(poker: Poker) -> None:
    """Read every frame a member receives, raw: during voting none carries a card."""
    ann, bob = await poker.room("Ann", "Bob", deck={"kind": "fibonacci", "range": [0, 10]})
    cy_seat = await poker.seat(ann.code, "Cy")
    raw = await poker.raw(
        {"t": "hello", "v": 1, "auth": {"room": ann.code, "seat": cy_seat["token"]}}
    )
    frames: list[dict[str, Any]] = []

    async def read() -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await recv_json(raw, 10)
                frames.append(frame)
                if frame["t"] == "ping":
                    await raw.send('{"t":"pong"}')

    reader = asyncio.create_task(read())
    await until(lambda: any(f["t"] == "joined" for f in frames))
    await ann.emit("poker.start")
    for card in ("13", "21", "34"):
        await bob.emit("poker.vote", {"round": 1, "card": card})
        await ann.emit("poker.vote", {"round": 1, "card": card})
    await until(lambda: sum(1 for f in frames if f.get("event") == "poker.state") >= 7)
    before = list(frames)
    await ann.emit("poker.reveal")
    await until(
        lambda: any(
            f.get("event") == "poker.state" and f["data"]["phase"] == "revealed" for f in frames
        )
    )
    reader.cancel()

    assert [f for f in before if f["t"] == "event" and f["event"] != "poker.state"] == []
    assert all(votes_in(f) == [] for f in before)
    texts = [json.dumps(f) for f in before]
    assert not any('"vote"' in text for text in texts)
    assert not any(bob.token in text or ann.token in text for text in texts)
    revealed = [f for f in frames if f not in before and f.get("event") == "poker.state"]
    assert sorted(votes_in(revealed[-1])) == ["34", "34"]


# -- who may do what --------------------------------------------------------------------


async def test_a_voter_cannot_make_the_moderators_moves(poker: Poker) -> None:
    ann, bob, cy = await poker.room("Ann", "Bob", "Cy")
    for event, data in [
        ("poker.start", None),
        ("poker.describe", {"text": "mine now"}),
        ("poker.kick", {"seat": cy.seat}),
        ("poker.hand_over", {"seat": bob.seat}),
    ]:
        error = await refused(bob, event, data)
        assert error.details == {"reason": "not_allowed"}
        assert str(error).startswith("Only the moderator can")
    await ann.emit("poker.start")
    error = await refused(bob, "poker.reveal")
    assert str(error) == "Only the moderator can reveal the cards."


async def test_moves_out_of_turn(poker: Poker) -> None:
    ann, bob = await poker.room("Ann", "Bob")
    assert str(await refused(bob, "poker.vote", {"round": 0, "card": "5"})) == (
        "Voting has not started."
    )
    assert str(await refused(ann, "poker.reveal")) == "Voting has not started."
    await ann.emit("poker.start")
    assert str(await refused(ann, "poker.start")) == "Voting is already under way."
    error = await refused(ann, "poker.describe", {"text": "too late"})
    assert error.details == {"reason": "wrong_phase"}
    await ann.emit("poker.reveal")
    assert str(await refused(bob, "poker.vote", {"round": 1, "card": "5"})) == (
        "Voting is over: the cards are revealed."
    )
    await ann.emit("poker.start")
    # A vote held back by a reconnect, for the round before: refused, not applied.
    assert str(await refused(bob, "poker.vote", {"round": 1, "card": "5"})) == (
        "Round 1 is over: this is round 2."
    )


async def test_kicking_and_handing_over_need_someone_else_who_is_here(poker: Poker) -> None:
    ann, _bob = await poker.room("Ann", "Bob")
    assert str(await refused(ann, "poker.kick", {"seat": ann.seat})) == (
        "You cannot remove yourself."
    )
    assert str(await refused(ann, "poker.hand_over", {"seat": ann.seat})) == (
        "You cannot hand the role to yourself."
    )
    error = await refused(ann, "poker.kick", {"seat": "seat-nobody"})
    assert error.details == {"reason": "no_seat"}
    cy = await poker.seat(ann.code, "Cy")  # has a seat, never connected: away
    error = await refused(ann, "poker.hand_over", {"seat": cy["seat"]})
    assert str(error) == "Cy is away: hand the role to someone who is here."


# -- bad input ---------------------------------------------------------------------------


async def test_bad_input_is_refused_with_a_reason(poker: Poker) -> None:
    ann, bob = await poker.room("Ann", "Bob", deck={"kind": "tshirt", "range": [1, 3]})
    await ann.emit("poker.start")
    error = await refused(bob, "poker.vote", {"round": 1, "card": "XL"})
    assert str(error) == "'XL' is not a card of this deck."
    assert error.details == {"reason": "invalid_input"}
    with pytest.raises(InvalidPayload) as caught:
        await bob.emit("poker.vote", {"round": 1, "card": 5})
    assert caught.value.field == "card"
    with pytest.raises(InvalidPayload):
        await bob.emit("poker.vote", {"round": "1", "card": "M"})
    with pytest.raises(InvalidPayload):
        await bob.emit("poker.vote", {"round": 1, "card": "M", "extra": True})
    await ann.emit("poker.reveal")

    error = await refused(ann, "poker.describe", {"text": "x" * 1001})
    assert str(error) == "The description is 1,001 characters long: no more than 1,000, please."
    error = await refused(ann, "poker.describe", {"text": "\n".join("abcdefghijk")})
    assert "too many lines" in str(error)
    error = await refused(bob, "poker.rename", {"name": "x" * 21})
    assert str(error) == "Name too long. Must be no more than 20 characters."
    error = await refused(bob, "poker.rename", {"name": " \u202e "})
    assert str(error) == "Please enter a name."
    with pytest.raises(HubError) as too_large:
        await ann.emit("poker.describe", {"text": "x" * 20_000})  # over max_payload
    assert too_large.value.code == "too_large"
    with pytest.raises(HubError) as unknown:
        await ann.emit("poker.cheat", {"peek": True})
    assert unknown.value.code == "unknown_event"


async def test_renames_keep_names_unique(poker: Poker) -> None:
    ann, bob, cy = await poker.room("Ann", "Bob", "Cy")
    assert await cy.emit("poker.rename", {"name": "  bob "}) == {"name": "bob (1)"}
    assert await bob.emit("poker.rename", {"name": "Bob"}) == {"name": "Bob"}
    await until(lambda: [s["name"] for s in ann.state["seats"]] == ["Ann", "Bob", "bob (1)"])
    joined = await poker.seat(ann.code, "BOB")
    assert joined["name"] == "BOB (2)"


async def test_flooding_is_rate_limited_then_closed(poker: Poker) -> None:
    ann, bob = await poker.room("Ann", "Bob")
    await ann.emit("poker.start")
    cards = ["0.5", "1", "2", "3", "5", "8"]
    outcomes = await asyncio.gather(
        *(bob.emit("poker.vote", {"round": 1, "card": cards[i % 6]}) for i in range(40)),
        return_exceptions=True,
    )
    limited = [o for o in outcomes if isinstance(o, RateLimited)]
    assert 15 <= len(limited) <= 25  # poker.vote: bursts of 20
    assert all(o.retry_after > 0 for o in limited)
    # The moderator's table was not flooded: at most one state per accepted vote.
    accepted = 40 - len(limited)
    await asyncio.sleep(0.2)
    assert len([s for s in ann.states if s["round"] == 1]) <= accepted + 2

    # A raw client that ignores the refusals is closed (1008) and comes back.
    raw = await poker.raw({"t": "hello", "v": 1, "auth": {"room": ann.code, "seat": ann.token}})
    for i in range(200):
        await raw.send(json.dumps({"t": "emit", "event": "poker.sync", "id": i + 1}))
    with pytest.raises(Exception):  # noqa: B017 - ConnectionClosed, whatever the read
        for _ in range(1000):
            await recv_json(raw)
    assert raw.close_code == 1008


# -- seats and tokens --------------------------------------------------------------------


async def test_a_seat_needs_its_own_token(poker: Poker) -> None:
    ann, bob = await poker.room("Ann", "Bob")
    other = await poker.create("Zed")
    cases = [
        None,
        {"room": ann.code},
        {"room": ann.code, "seat": "guessed"},
        {"room": ann.code, "seat": other["token"]},  # a seat of another room
        {"room": "ZZZZ" if ann.code != "ZZZZ" else "YYYY", "seat": ann.token},
        {"room": "AB1D", "seat": ann.token},
    ]
    reasons = []
    for auth in cases:
        with pytest.raises(Unauthorized) as caught:
            await poker.player(ann.code, {"token": "", "seat": "", "name": ""}, auth=auth)
        reasons.append(str(caught.value).split(":")[0])
    assert reasons == ["invalid_input", "no_seat", "no_seat", "no_seat", "no_room", "invalid_input"]
    # Seat ids are public, tokens never are.
    assert ann.token not in json.dumps(bob.states)
    assert bob.token not in json.dumps(ann.states)


async def test_several_tabs_of_one_person_share_one_seat(poker: Poker) -> None:
    ann, bob = await poker.room("Ann", "Bob")
    tab = await poker.player(bob.code, {"seat": bob.seat, "token": bob.token, "name": "Bob"})
    await ann.emit("poker.start")
    await until(lambda: tab.state["phase"] == "voting")
    assert [s["name"] for s in tab.state["seats"]] == ["Ann", "Bob"]
    members = await poker.app.hub.presence(f"poker:{ann.code}")
    assert members[bob.seat].connections == 2
    await bob.emit("poker.vote", {"round": 1, "card": "3"})
    await until(lambda: bool(tab.mine) and tab.mine[-1]["vote"] == "3")  # the other tab knows
    # One tab closing is not leaving: the other keeps the seat present.
    await bob.client.close()
    await asyncio.sleep(poker.app.grace + 0.3)
    assert ann.seat_view(bob.seat)["present"] is True


# -- connections ---------------------------------------------------------------------------


async def test_a_drop_within_the_grace_period_changes_nothing(make_poker: Any) -> None:
    poker = make_poker(grace=1.0)
    await poker.start()
    ann, bob = await poker.room("Ann", "Bob")
    await ann.emit("poker.start")
    await ann.emit("poker.vote", {"round": 1, "card": "8"})
    versions = len(bob.states)
    await ann.client.reconnect()  # dropped, back at once
    await ann.client.wait_for_state("connected")
    await asyncio.sleep(1.3)
    assert ann.seat_view(ann.seat)["present"] and bob.state["moderator"] == ann.seat
    assert bob.states[versions:] == [] or all(s["moderator"] == ann.seat for s in bob.states)
    assert (await ann.sync())["you"]["vote"] == "8"


async def test_beyond_the_grace_period_the_seat_is_away_and_the_role_passes(poker: Poker) -> None:
    ann, bob, cy = await poker.room("Ann", "Bob", "Cy")
    await ann.emit("poker.start")
    await ann.emit("poker.vote", {"round": 1, "card": "2"})
    await ann.client.close()  # the moderator closes the page
    await until(lambda: bob.state["moderator"] == bob.seat, timeout=3)
    assert bob.seat_view(ann.seat)["present"] is False
    assert bob.seat_view(ann.seat)["voted"] is True  # the card stays on the table
    # Bob moderates meanwhile.
    await bob.emit("poker.vote", {"round": 1, "card": "3"})
    # Ann comes back with her token: her seat, her card and her role.
    back = await poker.player(ann.code, {"seat": ann.seat, "token": ann.token, "name": "Ann"})
    await until(lambda: cy.state["moderator"] == ann.seat)
    assert cy.seat_view(ann.seat)["present"] is True
    assert (await back.sync())["you"]["vote"] == "2"
    assert (await back.emit("poker.reveal"))["stats"]["low"] == "2"


async def test_a_room_with_nobody_left_goes_and_idle_rooms_expire(make_poker: Any) -> None:
    poker = make_poker(room_ttl=0.5)
    await poker.start()
    (ann,) = await poker.room("Ann")
    assert await ann.emit("poker.leave") == {"left": True}
    result = await poker.request("GET", f"/api/rooms/{ann.code}")
    assert result.status == 404

    created = await poker.create("Bob")  # nobody ever connects
    staying = await poker.room("Cy")  # somebody is here
    await asyncio.sleep(1.5)  # a sweep or two
    assert (await poker.request("GET", f"/api/rooms/{created['code']}")).status == 404
    assert (await poker.request("GET", f"/api/rooms/{staying[0].code}")).status == 200


# -- kick, hand-over, leave, spectators --------------------------------------------------


async def test_kick(poker: Poker) -> None:
    ann, bob, cy = await poker.room("Ann", "Bob", "Cy")
    assert await ann.emit("poker.kick", {"seat": bob.seat}) == {"seat": bob.seat, "name": "Bob"}
    await until(lambda: bob.client.state == "failed")
    assert ("poker.kicked", {"room": ann.code}) in bob.events
    assert bob.client.close_info == (4403, "removed from the room")
    await until(lambda: [s["name"] for s in cy.state["seats"]] == ["Ann", "Cy"])
    with pytest.raises(Unauthorized, match="no_seat"):
        await poker.player(ann.code, {"seat": bob.seat, "token": bob.token, "name": "Bob"})


async def test_hand_over_and_leaving_for_good(poker: Poker) -> None:
    ann, _bob, cy, dee = await poker.room("Ann", "Bob", "Cy", "Dee")
    assert await ann.emit("poker.hand_over", {"seat": cy.seat}) == {
        "moderator": cy.seat,
        "name": "Cy",
    }
    await until(lambda: dee.state["moderator"] == cy.seat)
    await refused(ann, "poker.start")  # not hers any more
    await cy.emit("poker.start")
    # Cy leaves for good: the role goes to the first one here, in join order.
    assert await cy.emit("poker.leave") == {"left": True}
    await until(lambda: dee.state["moderator"] == ann.seat)
    assert [s["name"] for s in dee.state["seats"]] == ["Ann", "Bob", "Dee"]
    await until(lambda: cy.client.state == "failed", timeout=3)
    assert ("poker.left", {"room": ann.code}) in cy.events
    # Closed after the ack (4410), unless a sweep found the seat gone first (4404).
    assert cy.client.close_info is not None and cy.client.close_info[0] in (4404, 4410)
    await ann.emit("poker.reveal")


async def test_spectators_watch(poker: Poker) -> None:
    created = await poker.create("Ann", spectator=True)  # a moderator who does not vote
    ann = await poker.player(created["code"], created)
    bob = await poker.player(ann.code, await poker.seat(ann.code, "Bob"))
    sam = await poker.player(ann.code, await poker.seat(ann.code, "Sam", spectator=True))
    await until(lambda: len(ann.state["seats"]) == 3)
    assert [s["spectator"] for s in ann.state["seats"]] == [True, False, True]
    await ann.emit("poker.start")
    error = await refused(sam, "poker.vote", {"round": 1, "card": "1"})
    assert str(error) == "Spectators do not vote."
    await bob.emit("poker.vote", {"round": 1, "card": "1"})
    stats = (await ann.emit("poker.reveal"))["stats"]
    assert (stats["votes"], stats["did_not_vote"]) == (1, 0)
    assert await sam.emit("poker.spectate", {"spectator": False}) == {"spectator": False}


# -- a restart ----------------------------------------------------------------------------


async def test_a_restart_in_the_middle_of_a_round_loses_nothing(poker: Poker) -> None:
    ann, bob, cy = await poker.room("Ann", "Bob", "Cy")
    await ann.emit("poker.describe", {"text": "Search"})
    await ann.emit("poker.start")
    await bob.emit("poker.vote", {"round": 1, "card": "5"})
    before = (await ann.sync())["state"]

    await poker.restart()  # a new process on the same database: the hub forgot everything
    for player in (ann, bob, cy):
        await player.client.wait_for_state("connected")
    synced = await ann.sync()
    assert synced["state"]["phase"] == "voting" and synced["state"]["description"] == "Search"
    assert [s["voted"] for s in synced["state"]["seats"]] == [False, True, False]
    assert synced["state"]["v"] >= before["v"]
    assert (await bob.sync())["you"]["vote"] == "5"
    await cy.emit("poker.vote", {"round": 1, "card": "8"})
    stats = (await ann.emit("poker.reveal"))["stats"]
    assert (stats["low"], stats["high"]) == ("5", "8")
    await until(lambda: bob.state["phase"] == "revealed")


async def test_seats_removed_on_another_node_are_closed_by_the_sweep(poker: Poker) -> None:
    ann, bob = await poker.room("Ann", "Bob")
    other = Store(poker.db_path)  # another process with the same database
    with other.table(ann.code, now=0.0) as table:
        table.leave(bob.seat)
    other.close()
    await until(lambda: bob.client.state == "failed", timeout=3)
    assert bob.client.close_info == (4404, "not in the room any more")
