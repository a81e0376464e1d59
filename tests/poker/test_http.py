"""The poker app's HTTP side: creating and probing rooms (with their rate limits per
client address), joining, the exports, the pages, the Origin checks, and the
command line that serves it."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import switchboard
from switchboard.realtime import connect

from .conftest import Poker

pytestmark = pytest.mark.timeout(60)


async def test_decks_and_limits(poker: Poker) -> None:
    answer = (await poker.request("GET", "/api/decks")).json()
    assert [deck["kind"] for deck in answer["decks"]] == [
        "fibonacci",
        "linear",
        "tshirt",
        "yesno",
        "custom",
    ]
    assert answer["decks"][0]["cards"][:3] == ["0.5", "1", "2"]
    assert answer["decks"][0]["default_range"] == [0, 5]
    assert answer["limits"]["name"] == 20 and answer["limits"]["description"] == 1000


async def test_creating_a_room(poker: Poker) -> None:
    created = await poker.create("  Ann  ", {"kind": "linear", "range": [2, 6], "no_vote": True})
    assert set(created) == {"code", "seat", "token", "name"}
    assert len(created["code"]) == 4 and created["code"].isalpha() and created["code"].isupper()
    assert created["name"] == "Ann"
    found = (await poker.request("GET", f"/api/rooms/{created['code'].lower()}")).json()
    assert found["deck"]["options"] == ["N/A", "3", "4", "5", "6", "7"]
    assert found["people"] == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"deck": {"kind": "fibonacci"}}, 400, "Please enter a name."),
        ({"name": "x" * 21, "deck": {"kind": "fibonacci"}}, 400, "no more than 20 characters"),
        ({"name": "Ann"}, 400, "deck: expected an object"),
        ({"name": "Ann", "deck": {"kind": "uno"}}, 400, "unknown deck 'uno'"),
        ({"name": "Ann", "deck": {"kind": "linear", "range": [4, 4]}}, 400, "range must be"),
        ({"name": "Ann", "deck": {"kind": "linear", "range": "0-5"}}, 400, "deck.range"),
        ({"name": "Ann", "deck": {"kind": "yesno", "no_vote": True}}, 400, "no N/A card"),
        ({"name": "Ann", "deck": {"kind": "custom", "custom": ["a"]}}, 400, "2 to 15 cards"),
        ({"name": "Ann", "deck": {"kind": "custom", "custom": [1, 2]}}, 400, "deck.custom"),
        ({"name": "Ann", "deck": {"kind": "fibonacci", "colour": "red"}}, 400, "unknown field"),
        ({"name": "Ann", "deck": {"kind": "fibonacci"}, "spectator": "yes"}, 400, "true or false"),
        (["Ann"], 400, "expected a JSON object"),
    ],
)
async def test_bad_rooms_are_refused(poker: Poker, body: Any, status: int, message: str) -> None:
    result = await poker.request("POST", "/api/rooms", body)
    assert result.status == status
    assert message in result.json()["error"]
    assert result.json()["reason"] in ("invalid_input", "invalid_deck")


async def test_state_changing_requests_must_be_json_from_this_site(poker: Poker) -> None:
    body = json.dumps({"name": "Ann", "deck": {"kind": "fibonacci"}}).encode()
    form = await poker.request(
        "POST", "/api/rooms", raw=body, headers={"Content-Type": "text/plain"}
    )
    assert form.status == 415
    bad_json = await poker.request(
        "POST", "/api/rooms", raw=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status == 400 and "invalid JSON body" in bad_json.json()["error"]
    foreign = await poker.request(
        "POST",
        "/api/rooms",
        {"name": "Ann", "deck": {"kind": "fibonacci"}},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status == 403
    same = await poker.request(
        "POST",
        "/api/rooms",
        {"name": "Ann", "deck": {"kind": "fibonacci"}},
        headers={"Origin": f"http://127.0.0.1:{poker.port}"},
    )
    assert same.status == 201


async def test_the_websocket_refuses_other_origins(poker: Poker) -> None:
    created = await poker.create("Ann")
    auth = {"room": created["code"], "seat": created["token"]}
    with pytest.raises(switchboard.InvalidHandshake) as caught:
        await connect(poker.url, auth=auth, origin="https://evil.example", reconnect=False)
    assert "403" in str(caught.value)
    async with connect(poker.url, auth=auth, origin=f"http://127.0.0.1:{poker.port}") as client:
        assert client.state == "connected"


async def test_probing_codes(poker: Poker) -> None:
    assert (await poker.request("GET", "/api/rooms/ABC1")).status == 400
    missing = await poker.request("GET", "/api/rooms/QQQQ")
    assert missing.status == 404
    assert missing.json()["error"] == "A room does not exist with that code. Try again."
    joined = await poker.request("POST", "/api/rooms/QQQQ/seats", {"name": "Bob"})
    assert joined.status == 404


async def test_creating_and_probing_are_rate_limited_per_address(make_poker: Any) -> None:
    poker = make_poker(create_limit=(3, 60.0), probe_limit=(5, 60.0))
    await poker.start()
    for _ in range(3):
        await poker.create("Ann")
    limited = await poker.request("POST", "/api/rooms", {"name": "Ann", "deck": {"kind": "yesno"}})
    assert limited.status == 429
    assert limited.json()["error"] == "Too many attempts. Please wait and try again later."
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Probing counts apart, and joining counts as probing (it tells a room exists).
    code = (await poker.request("GET", "/api/rooms/ZZZZ")).status
    assert code == 404
    for _ in range(3):
        assert (await poker.request("GET", "/api/rooms/ZZZY")).status == 404
    assert (await poker.request("POST", "/api/rooms/ZZZY/seats", {"name": "B"})).status == 404
    assert (await poker.request("GET", "/api/rooms/ZZZX")).status == 429
    assert (await poker.request("POST", "/api/rooms/ZZZX/seats", {"name": "B"})).status == 429
    # The counters are in the database: a restarted server still remembers them.
    await poker.restart()
    assert (await poker.request("GET", "/api/rooms/ZZZX")).status == 429


async def test_exporting_the_rounds(poker: Poker) -> None:
    ann, bob = await poker.room("Ann", "Bob")
    for text, cards in (("Login, the =SUM(A1) page", ("3", "5")), ("Search", ("8", "8"))):
        await ann.emit("poker.describe", {"text": text})
        n = (await ann.emit("poker.start"))["round"]
        await ann.emit("poker.vote", {"round": n, "card": cards[0]})
        await bob.emit("poker.vote", {"round": n, "card": cards[1]})
        await ann.emit("poker.reveal")
    auth = {"Authorization": f"Bearer {bob.token}"}
    exported = await poker.request("GET", f"/api/rooms/{ann.code}/rounds.csv", headers=auth)
    assert exported.status == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"] == (
        f'attachment; filename="poker-{ann.code}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(exported.body.decode())))
    assert [(r["round"], r["description"], r["mode"]) for r in rows] == [
        ("1", "Login, the =SUM(A1) page", "5"),
        ("2", "Search", "8"),
    ]
    assert rows[0]["votes"].startswith("Ann: 3 (high); Bob: 5 (high)")
    markdown = await poker.request("GET", f"/api/rooms/{ann.code}/rounds.md", headers=auth)
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    text = markdown.body.decode()
    assert f"# Planning poker: room {ann.code}" in text
    assert "## Round 2" in text and "| Bob | 8 | high |" in text

    other = await poker.create("Zed")
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {other['token']}"},
        {"Authorization": f"Basic {bob.token}"},
    ):
        refused = await poker.request("GET", f"/api/rooms/{ann.code}/rounds.csv", headers=headers)
        assert refused.status == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="poker"'


async def test_the_pages_are_served_with_a_strict_policy(poker: Poker) -> None:
    for page in ("/", "/create.html", "/room.html"):
        result = await poker.request("GET", page)
        assert result.status == 200
        text = result.body.decode()
        assert "default-src 'none'; script-src 'self'" in text
        assert "<script>" not in text and "onclick" not in text
    for asset in ("/style.css", "/common.js", "/room.js", "/theme.js", "/rt/client.js"):
        assert (await poker.request("GET", asset)).status == 200
    web = Path(__file__).parents[2] / "src/switchboard/apps/poker/web"
    for script in web.glob("*.js"):
        source = script.read_text()
        assert "innerHTML" not in source and "insertAdjacentHTML" not in source, script.name
        assert "eval(" not in source and "new Function" not in source, script.name


def test_switchboard_serve_poker(tmp_path: Path) -> None:
    """``switchboard serve poker`` as a user starts it; SIGTERM stops it."""
    db = tmp_path / "rooms.sqlite3"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchboard", "serve", "poker", "--port", "0", "--db", str(db)],
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stderr is not None
        port = None
        for _ in range(50):
            line = proc.stderr.readline().decode()
            if "http://" in line:
                port = int(line.rsplit(":", 1)[1].strip().strip("/").split("/")[0])
                break
        assert port is not None, "no URL announced"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/decks", timeout=5) as answer:
            assert json.load(answer)["decks"][0]["kind"] == "fibonacci"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert b"Planning poker" in answer.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert db.exists()
