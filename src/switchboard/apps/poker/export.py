"""The rounds history as CSV (one row per round) and as Markdown (one section each).

Names and descriptions come from users: in CSV a cell that a spreadsheet would read
as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return first) gets a leading
``'``; in Markdown the characters that would format are escaped.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from typing import Any

from .decks import Deck
from .rooms import Round

__all__ = ["rounds_csv", "rounds_markdown", "summary"]

CSV_COLUMNS = [
    "round",
    "revealed_utc",
    "description",
    "votes",
    "low",
    "high",
    "mode",
    "mean",
    "yes_percent",
    "no_percent",
    "did_not_vote",
    "confidence",
]
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _votes_text(played: Round) -> str:
    parts = []
    for vote in played.votes:
        card = vote["vote"] if vote["vote"] is not None else "did not vote"
        level = f" ({vote['confidence']})" if vote.get("confidence") else ""
        parts.append(f"{vote['name']}: {card}{level}")
    return "; ".join(parts)


def _blank(value: Any) -> str:
    return "" if value is None else str(value)


def rounds_csv(rounds: list[Round]) -> str:
    """The rounds as CSV, with a header row (RFC 4180, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for played in rounds:
        stats = played.stats
        writer.writerow(
            [
                played.n,
                _when(played.revealed),
                _cell(played.description),
                _cell(_votes_text(played)),
                _cell(_blank(stats.get("low"))),
                _cell(_blank(stats.get("high"))),
                _cell(_blank(stats.get("mode"))),
                _blank(stats.get("mean")),
                _blank(stats.get("yes")),
                _blank(stats.get("no")),
                stats.get("did_not_vote", 0),
                _blank(stats.get("confidence")),
            ]
        )
    return out.getvalue()


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def summary(stats: dict[str, Any]) -> str:
    """A round's results in a line: ``low 3, high 8, mode 5, average 5.3; ...``."""
    parts = []
    if stats.get("kind") == "yesno":
        if stats.get("yes") is not None:
            parts.append(f"yes {stats['yes']}%, no {stats['no']}%")
    elif stats.get("mode") is not None:
        parts.append(f"low {stats['low']}, high {stats['high']}, mode {stats['mode']}")
        if stats.get("mean") is not None:
            parts[-1] += f", average {stats['mean']:g}"
    if not parts:
        parts.append("no votes")
    if stats.get("confidence"):
        parts.append(f"confidence {stats['confidence']}")
    if stats.get("no_vote"):
        parts.append(f"{stats['no_vote']} N/A")
    if stats.get("did_not_vote"):
        parts.append(f"{stats['did_not_vote']} did not vote")
    return "; ".join(parts)


def rounds_markdown(code: str, deck: Deck, rounds: list[Round], *, now: float) -> str:
    """The rounds as a Markdown document: a table of votes per round."""
    lines = [
        f"# Planning poker: room {code}",
        "",
        f"{deck.label} deck ({', '.join(_md(card) for card in deck.options)}). "
        f"{len(rounds)} round{'s' if len(rounds) != 1 else ''}, exported {_when(now)} UTC.",
    ]
    for played in rounds:
        lines += ["", f"## Round {played.n}", ""]
        if played.description:
            lines += [f"> {_md(line)}" if line else ">" for line in played.description.split("\n")]
            lines.append("")
        lines += [
            f"Revealed {_when(played.revealed)} UTC: {_md(summary(played.stats))}.",
            "",
            "| Name | Vote | Confidence |",
            "| --- | --- | --- |",
        ]
        for vote in played.votes:
            card = _md(vote["vote"]) if vote["vote"] is not None else "did not vote"
            lines.append(f"| {_md(vote['name'])} | {card} | {vote.get('confidence') or ''} |")
    return "\n".join(lines) + "\n"
