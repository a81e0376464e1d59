"""What the secret-vote tests look for in the frames a page or client received."""

from __future__ import annotations

from typing import Any


def votes_in(value: Any) -> list[Any]:
    """Every non-null ``vote`` member anywhere in a JSON value."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "vote" and item is not None:
                found.append(item)
            found.extend(votes_in(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(votes_in(item))
    return found
