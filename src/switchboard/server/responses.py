"""What route handlers return, turned into HTTP responses, and the errors they raise."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from email.utils import formatdate
from typing import Any

from ..protocol.errors import SwitchboardError
from ..protocol.http11 import Headers, Response

__all__ = [
    "HTTPError",
    "html_response",
    "json_response",
    "text_response",
    "to_response",
    "http_date",
]

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"


class HTTPError(SwitchboardError):
    """Raise it in a route handler to answer with ``status`` and ``message``.

    Example::

        @router.get("/users/{name}")
        def user(request):
            if request.path_params["name"] not in USERS:
                raise HTTPError(404, "no such user")
            ...

    The body is ``message`` as text/plain (the status phrase when empty);
    ``headers`` are added to the response, e.g. ``[("WWW-Authenticate", "Bearer")]``.
    """

    def __init__(self, status: int, message: str = "", *, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(f"{status} {message}".rstrip())
        self.status = status
        self.message = message
        self.headers = list(headers)


def text_response(
    text: str, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """A text/plain UTF-8 response."""
    response = Response(status, headers=Headers(headers), body=text.encode())
    response.headers["Content-Type"] = TEXT
    return response


def html_response(
    html: str, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """A text/html UTF-8 response: ``return html_response("<h1>Hello</h1>")``.

    ``html`` is sent as it is: escape what comes from users (``html.escape``).
    """
    response = Response(status, headers=Headers(headers), body=html.encode())
    response.headers["Content-Type"] = HTML
    return response


def json_response(
    data: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """A JSON response, compact and UTF-8: ``json_response({"id": 7}, 201)``.

    Raises TypeError for a value JSON cannot encode.
    """
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    response = Response(status, headers=Headers(headers), body=body)
    response.headers["Content-Type"] = JSON
    return response


def error_response(
    status: int, message: str = "", headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """A short text/plain error: ``message`` or the status line's text."""
    response = text_response("", status, headers)
    response.body = f"{message or f'{status} {response.reason}'}\n".encode()
    return response


def to_response(result: object) -> Response:
    """Convert a handler's return value: Response as is, dict/list to JSON, str to
    text/plain, bytes to application/octet-stream, None to 204 No Content."""
    if isinstance(result, Response):
        return result
    if isinstance(result, (dict, list)):
        return json_response(result)
    if isinstance(result, str):
        return text_response(result)
    if isinstance(result, (bytes, bytearray, memoryview)):
        return Response(
            200, headers=Headers({"Content-Type": "application/octet-stream"}), body=bytes(result)
        )
    if result is None:
        return Response(204)
    hint = ""
    if isinstance(result, tuple):  # ("text", 201), as in other frameworks
        hint = ": for another status, return json_response(data, status) or text_response(...)"
    raise TypeError(f"a handler returned {type(result).__name__}, not a Response or a body{hint}")


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The current time as an HTTP date, recomputed once a second at most."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
