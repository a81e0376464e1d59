"""Terminal output: ANSI colours on a terminal, plain text elsewhere, and tables.

Colour follows https://no-color.org: only when the stream is a terminal and
``NO_COLOR`` is unset or empty.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["Console", "format_seconds", "format_size", "paint", "timestamp", "wants_color"]

_STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


def wants_color(stream: TextIO) -> bool:
    """Whether to write ANSI colours to ``stream``."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class Console:
    """Writes to the *current* ``sys.stdout`` / ``sys.stderr`` (looked up on each
    write, so prompt_toolkit's ``patch_stdout`` can redirect them), in colour when
    the stream was a terminal at start."""

    def __init__(self) -> None:
        self.color_out = wants_color(sys.stdout)
        self.color_err = wants_color(sys.stderr)

    def out(self, text: str, style: str = "") -> None:
        """Write a line to standard output and flush it (pipes see each line at once)."""
        stream = sys.stdout
        stream.write(paint(text, style, self.color_out) + "\n")
        stream.flush()

    def err(self, text: str, style: str = "") -> None:
        """Write a line to standard error."""
        stream = sys.stderr
        stream.write(paint(text, style, self.color_err) + "\n")
        stream.flush()

    def paint_out(self, text: str, style: str) -> str:
        """``text`` styled for standard output (unchanged without colour)."""
        return paint(text, style, self.color_out)

    def paint_err(self, text: str, style: str) -> str:
        """``text`` styled for standard error."""
        return paint(text, style, self.color_err)

    def table(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Print ``(label, value, style)`` rows as two aligned columns."""
        width = max((len(label) for label, _, _ in rows), default=0)
        for label, value, style in rows:
            padded = self.paint_out(label.ljust(width), "bold")
            self.out(f"{padded}  {self.paint_out(value, style)}")


def paint(text: str, style: str, color: bool) -> str:
    """Wrap ``text`` in the ANSI codes of ``style`` (space-separated names) if ``color``."""
    if not color or not style:
        return text
    codes = ";".join(_STYLES[name] for name in style.split())
    return f"\033[{codes}m{text}\033[0m"


def timestamp() -> str:
    """The local time with milliseconds, as message and frame lines show it."""
    return datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]


def format_size(size: int) -> str:
    """``512 B``, ``1 KiB``, ``1.5 MiB``: binary units, at most one decimal."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            break
        value /= 1024
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}"


def format_seconds(seconds: float) -> str:
    """A duration in the unit that reads best: ``0.123 ms``, ``45.6 ms``, ``1.23 s``."""
    if seconds < 0.001:
        return f"{seconds * 1000:.3f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"
