"""The rules on their own: decks, names, descriptions, confidence, results, the
moderator's succession, and the exports. The server tests check the same rules
through the hub."""

from __future__ import annotations

import csv
import doctest
import io

import pytest

from switchboard.apps.poker import (
    Deck,
    DeckChoice,
    InvalidDeck,
    InvalidInput,
    NotAllowed,
    Room,
    Rules,
    Table,
    WrongPhase,
    build_deck,
    clean_name,
    confidence,
    results,
)
from switchboard.apps.poker.export import rounds_csv, rounds_markdown
from switchboard.apps.poker.rooms import Round
from switchboard.apps.poker.rules import check_code, clean_description, new_code, unique_name

# -- decks ------------------------------------------------------------------------------


def test_fibonacci_keeps_its_first_six_cards_by_default() -> None:
    deck = build_deck(DeckChoice("fibonacci"))
    assert deck.options == ("0.5", "1", "2", "3", "5", "8")
    assert deck.numeric


def test_a_sub_range_and_the_na_card() -> None:
    deck = build_deck(DeckChoice("fibonacci", range=(3, 14), no_vote=True))
    assert deck.options[:3] == ("N/A", "3", "5")
    assert deck.options[-1] == "610"
    assert build_deck(DeckChoice("linear", range=(0, 14))).cards == tuple(map(str, range(1, 16)))


def test_tshirt_and_yes_no() -> None:
    assert build_deck(DeckChoice("tshirt")).cards == ("XS", "S", "M", "L", "XL", "XXL")
    assert not build_deck(DeckChoice("tshirt")).numeric
    assert build_deck(DeckChoice("yesno")).options == ("Yes", "No")


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (DeckChoice("linear", range=(3, 3)), "range must be two card positions"),
        (DeckChoice("linear", range=(5, 2)), "range must be two card positions"),
        (DeckChoice("linear", range=(-1, 2)), "range must be two card positions"),
        (DeckChoice("linear", range=(0, 15)), "range must be two card positions"),
        (DeckChoice("yesno", no_vote=True), "has no N/A card"),
        (DeckChoice("yesno", range=(0, 1)), "has no range"),
        (DeckChoice("fibonacci", custom=["1", "2"]), "only for the custom deck"),
        (DeckChoice("poker"), "unknown deck"),  # type: ignore[arg-type]
        (DeckChoice("custom"), "needs its cards"),
        (DeckChoice("custom", custom=["1"]), "2 to 15 cards, not 1"),
        (DeckChoice("custom", custom=[str(n) for n in range(16)]), "2 to 15 cards, not 16"),
        (DeckChoice("custom", custom=["S", "M", "s"]), "'s' is there twice"),
        (DeckChoice("custom", custom=["1", "n/a"]), "N/A is not a custom card"),
        (DeckChoice("custom", custom=["1", "x" * 13]), "too long"),
    ],
)
def test_bad_deck_choices_are_refused(choice: DeckChoice, message: str) -> None:
    with pytest.raises(InvalidDeck, match=message):
        build_deck(choice)


def test_a_custom_deck_is_cleaned() -> None:
    deck = build_deck(DeckChoice("custom", custom=[" tiny ", "", "huge\u0007", "?"], no_vote=True))
    assert deck.options == ("N/A", "tiny", "huge", "?")
    assert not deck.numeric
    assert build_deck(DeckChoice("custom", custom=["1", "2.5", "4"])).numeric


# -- names, descriptions, codes ---------------------------------------------------------


def test_names_are_trimmed_and_made_visible() -> None:
    assert clean_name("  Ann   Lee ") == "Ann Lee"
    assert clean_name("Ann\u202e\u200b\x00") == "Ann"
    assert clean_name("x" * 20) == "x" * 20


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Please enter a name."),
        (" \u200b ", "Please enter a name."),
        (42, "Please enter"),
        ("x" * 21, "no more than 20 characters"),
    ],
)
def test_bad_names(name: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        clean_name(name)


def test_duplicate_names_get_a_number_up_to_nine() -> None:
    taken = ["Ann"]
    for n in range(1, 10):
        name = unique_name("ann", taken)
        assert name == f"ann ({n})"
        taken.append(name)
    with pytest.raises(InvalidInput, match="Too many people called 'ANN'"):
        unique_name("ANN", taken)


def test_descriptions() -> None:
    assert clean_description("  line 1\r\nline 2\x07  ") == "line 1\nline 2"
    assert clean_description("x" * 1000) == "x" * 1000
    assert clean_description("\n".join("abcdefghij")) == "\n".join("abcdefghij")  # 10 lines
    with pytest.raises(InvalidInput, match="1,001 characters long: no more than 1,000"):
        clean_description("x" * 1001)
    with pytest.raises(InvalidInput, match="too many lines"):
        clean_description("\n".join("abcdefghijk"))


def test_room_codes() -> None:
    assert all(
        len(code) == 4 and code.isalpha() and code.isupper()
        for code in (new_code() for _ in range(100))
    )
    assert check_code(" abcd ") == "ABCD"
    for bad in ("ABC", "ABCDE", "AB1D", "", None, "ÀBCD"):
        with pytest.raises(InvalidInput):
            check_code(bad)


# -- confidence and results ---------------------------------------------------------------


def test_confidence_from_how_fast_the_vote_came() -> None:
    assert [confidence(s) for s in (0, 4.99, 5.0, 14.99, 15.0, 600)] == [2, 2, 1, 1, 0, 0]
    assert confidence(7, high_within=10, medium_within=20) == 2


FIB = build_deck(DeckChoice("fibonacci", range=(0, 8), no_vote=True))


def test_results_low_high_and_a_mode_tie_going_to_the_higher_card() -> None:
    stats = results(FIB, [("3", 2), ("8", 0), ("3", 2), ("8", 1), ("N/A", 2), (None, None)])
    assert stats == {
        "kind": "range",
        "votes": 5,
        "did_not_vote": 1,
        "no_vote": 1,
        "confidence": "medium",  # (2 + 0 + 2 + 1) / 4 = 1.25: N/A is not counted
        "low": "3",
        "high": "8",
        "mode": "8",
        "mean": 5.5,
    }


def test_results_without_votes() -> None:
    assert results(FIB, [(None, None), ("N/A", 2)]) == {
        "kind": "range",
        "votes": 1,
        "did_not_vote": 1,
        "no_vote": 1,
        "confidence": None,
        "low": None,
        "high": None,
        "mode": None,
        "mean": None,
    }


def test_average_confidence_rounds_half_up() -> None:
    assert results(FIB, [("1", 2), ("2", 1)])["confidence"] == "high"  # 1.5
    assert results(FIB, [("1", 0), ("2", 1)])["confidence"] == "medium"  # 0.5
    assert results(FIB, [("1", 0), ("2", 0), ("3", 1)])["confidence"] == "low"


def test_results_of_a_deck_of_words_go_by_the_deck_order() -> None:
    shirts = build_deck(DeckChoice("tshirt"))
    stats = results(shirts, [("XL", 1), ("S", 1), ("M", 2), ("S", 0)])
    assert (stats["low"], stats["high"], stats["mode"], stats["mean"]) == ("S", "XL", "S", None)


def test_yes_no_results_in_percent_with_who_did_not_vote() -> None:
    yes_no = build_deck(DeckChoice("yesno"))
    stats = results(yes_no, [("Yes", 2), ("Yes", 2), ("No", 0), (None, None)])
    assert stats == {
        "kind": "yesno",
        "votes": 3,
        "did_not_vote": 1,
        "no_vote": 0,
        "confidence": "medium",
        "yes": 67,
        "no": 33,
    }
    assert results(yes_no, [(None, None)])["yes"] is None


# -- a table, without a server ----------------------------------------------------------


def table(*names: str, spectators: tuple[str, ...] = ()) -> Table:
    room = Room("ABCD", FIB, created=0, updated=0)
    t = Table(room, {}, Rules())
    for name in names:
        t.join(name.lower(), name, f"token-{name}", spectator=name in spectators)
        t.connect(name.lower(), 1.0)
    return t


def test_the_first_seat_moderates_and_only_the_moderator_runs_the_round() -> None:
    t = table("Ann", "Bob")
    assert t.room.moderator == "ann"
    for move in (
        lambda: t.start("bob", 2),
        lambda: t.describe("bob", "x"),
        lambda: t.kick("bob", "ann"),
        lambda: t.hand_over("bob", "ann"),
    ):
        with pytest.raises(NotAllowed, match="Only the moderator"):
            move()
    t.start("ann", 10)
    with pytest.raises(NotAllowed, match="Only the moderator can reveal"):
        t.reveal("bob", 11)
    with pytest.raises(WrongPhase, match="already under way"):
        t.start("ann", 11)
    with pytest.raises(WrongPhase, match="only change between rounds"):
        t.describe("ann", "later")


def test_votes_confidence_and_the_views() -> None:
    t = table("Ann", "Bob", "Cy")
    t.start("ann", 100.0)
    t.vote("bob", 1, "5", 103.0)
    t.vote("cy", 1, "8", 110.0)
    t.vote("cy", 1, "13", 120.0)  # changed: slower, so less sure
    public = t.public_view()
    assert "13" not in str([seat for seat in public["seats"]])
    assert [(s["name"], s["voted"]) for s in public["seats"]] == [
        ("Ann", False),
        ("Bob", True),
        ("Cy", True),
    ]
    assert all("vote" not in s for s in public["seats"])
    assert t.private_view("cy")["vote"] == "13"
    assert t.private_view("cy")["confidence"] == "low"
    played = t.reveal("ann", 130.0)
    assert played.votes == [
        {"name": "Ann", "vote": None, "confidence": None},
        {"name": "Bob", "vote": "5", "confidence": "high"},
        {"name": "Cy", "vote": "13", "confidence": "low"},
    ]
    assert played.stats["did_not_vote"] == 1
    assert [s.get("vote") for s in t.public_view()["seats"]] == [None, "5", "13"]
    with pytest.raises(WrongPhase, match="the cards are revealed"):
        t.vote("bob", 1, "8", 131.0)


def test_a_moderator_away_passes_the_role_and_gets_it_back_on_return() -> None:
    t = table("Ann", "Sam", "Bob", "Cy", spectators=("Sam",))
    t.away("ann", since=5.0)
    assert t.room.moderator == "bob"  # voters first, in join order: not the spectator Sam
    assert t.room.returning == "ann"
    t.away("bob", since=5.0)
    assert t.room.moderator == "cy"
    assert t.room.returning == "ann"  # the first moderator still has the claim
    t.connect("ann", 6.0)
    assert (t.room.moderator, t.room.returning) == ("ann", None)


def test_a_hand_over_is_for_good() -> None:
    t = table("Ann", "Bob", "Cy")
    t.away("ann", since=5.0)
    assert t.room.moderator == "bob"
    t.hand_over("bob", "cy")
    t.connect("ann", 6.0)
    assert t.room.moderator == "cy"
    with pytest.raises(NotAllowed, match="yourself"):
        t.hand_over("cy", "cy")


def test_away_is_ignored_when_a_connection_came_since() -> None:
    t = table("Ann", "Bob")
    t.connect("ann", 10.0)
    t.away("ann", since=9.0)
    assert t.seats["ann"].present and t.room.moderator == "ann"


def test_leaving_passes_the_role_and_the_last_one_empties_the_room() -> None:
    t = table("Ann", "Bob")
    t.leave("ann")
    assert t.room.moderator == "bob"
    t.leave("bob")
    assert t.seats == {} and t.room.moderator is None


def test_nobody_present_keeps_the_moderator_who_is_away() -> None:
    t = table("Ann", "Bob")
    t.away("bob", since=5.0)
    t.away("ann", since=5.0)
    assert t.room.moderator == "ann"
    t.connect("bob", 6.0)
    assert (t.room.moderator, t.room.returning) == ("bob", "ann")


def test_spectators_do_not_vote() -> None:
    t = table("Ann", "Sam", spectators=("Sam",))
    t.start("ann", 1.0)
    with pytest.raises(NotAllowed, match="Spectators do not vote"):
        t.vote("sam", 1, "5", 2.0)
    t.vote("ann", 1, "5", 2.0)
    t.spectate("ann", True)  # the vote goes with it
    assert t.seats["ann"].vote is None
    t.reveal("ann", 3.0)
    with pytest.raises(NotAllowed, match="everyone in the room is a spectator"):
        t.start("ann", 4.0)


def test_a_full_room() -> None:
    t = Table(Room("ABCD", FIB, created=0, updated=0), {}, Rules(max_seats=2))
    t.join("a", "A", "ta")
    t.join("b", "B", "tb")
    with pytest.raises(NotAllowed, match="full: 2 people"):
        t.join("c", "C", "tc")


# -- exports -----------------------------------------------------------------------------


def played(n: int, description: str, votes: list[tuple[str, str | None]]) -> Round:
    stats = results(FIB, [(vote, 2 if vote else None) for _, vote in votes])
    return Round(
        n,
        description,
        0.0,
        60.0 * n,
        [
            {"name": name, "vote": vote, "confidence": "high" if vote else None}
            for name, vote in votes
        ],
        stats,
    )


def test_csv_export_one_row_per_round_and_no_formulas() -> None:
    text = rounds_csv([played(1, '=HYPERLINK("x")', [("Ann", "5"), ("@Bob", None)])])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["round", "revealed_utc", "description", "votes"]
    assert rows[1][0] == "1"
    assert rows[1][1] == "1970-01-01 00:01:00"
    assert rows[1][2] == '\'=HYPERLINK("x")'
    assert rows[1][3] == "Ann: 5 (high); @Bob: did not vote"
    assert rows[1][4:8] == ["5", "5", "5", "5.0"]
    assert rows[1][10] == "1"


def test_markdown_export_escapes_what_would_format() -> None:
    deck = Deck("fibonacci", ("1", "2"), no_vote=True)
    text = rounds_markdown(
        "ABCD", deck, [played(2, "Fix *this* | that\nand [more](x)", [("A|nn", "1")])], now=0.0
    )
    assert text.startswith("# Planning poker: room ABCD\n")
    assert "> Fix \\*this\\* \\| that\n> and \\[more\\]\\(x\\)" in text
    assert "| A\\|nn | 1 | high |" in text
    assert (
        "Revealed 1970-01-01 00:02:00 UTC: low 1, high 1, mode 1, average 1; confidence high."
        in text
    )


def test_doctests() -> None:
    from switchboard.apps.poker import decks, rules

    assert doctest.testmod(decks).failed == 0
    assert doctest.testmod(rules).failed == 0
