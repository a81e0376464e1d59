"""A strict, incremental, sans-I/O HTTP/1.1 parser and serializer (RFC 9110, RFC 9112).

It serves the WebSocket opening handshake in both roles and the server's plain HTTP
routes on the same port (keep-alive, pipelining, bodies). It is our own rather than
``http.client``/``h11`` because the protocol core depends on nothing outside the
standard library and does no I/O: bytes go in with ``feed()``, messages come out.

Strictness, by design: lines must end with CRLF (a bare LF is an error), obsolete line
folding and whitespace before a header's colon are rejected, ``Content-Length`` must be
digits (and agree when repeated), a message may not carry both ``Content-Length`` and
``Transfer-Encoding``, and ``chunked`` is the only transfer coding. Every buffer is
bounded by :class:`~switchboard.protocol.limits.Limits`, checked as bytes arrive, so a
peer that never ends its header block fails as soon as it crosses a limit.

Errors raise :class:`~switchboard.protocol.errors.InvalidHTTP`; its ``status`` is what a
server answers: 400 malformed, 413 body too large, 414 request line too long, 431 header
line or section too large or too many header lines, 501 unsupported transfer coding,
505 HTTP major version other than 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from sys import intern
from typing import Any, Generic, TypeVar, overload
from urllib.parse import parse_qs

from .errors import InvalidHTTP
from .limits import Limits

__all__ = [
    "Headers",
    "Request",
    "Response",
    "serialize_request",
    "serialize_response",
    "RequestParser",
    "ResponseParser",
    "BodyReader",
]

_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_TOKEN = re.compile(_TCHAR + "+")
# Field values may not contain CR, LF or NUL (RFC 9110 5.5); checked when serializing.
_FORBIDDEN = re.compile("[\r\n\0]")
# Bytes patterns for parsing. The value group is greedy and stripped afterwards: a
# lazy group followed by optional whitespace backtracks quadratically on long lines.
_FIELD = re.compile(("(" + _TCHAR + "+):([\t\x20-\x7e\x80-\xff]*)").encode("latin-1"))
_REQUEST_LINE = re.compile(("(" + _TCHAR + r"+) ([\x21-\x7e]+) (HTTP/([0-9])\.[0-9])").encode())
_STATUS_LINE = re.compile(
    r"(HTTP/([0-9])\.[0-9]) ([1-9][0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?".encode("latin-1")
)
_CHUNK_SIZE = re.compile(r"([0-9A-Fa-f]+)[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?".encode("latin-1"))
# The same two as text, for a head decoded at once (RequestParser's fast path).
_FIELD_TEXT = re.compile("(" + _TCHAR + "+):([\t\x20-\x7e\x80-\xff]*)")
_REQUEST_LINE_TEXT = re.compile("(" + _TCHAR + r"+) ([\x21-\x7e]+) (HTTP/1\.[0-9])")

_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_NONE: list[str] = []  # what Headers._values returns for an absent name: never modified
_DEFAULT_LIMITS = Limits()

_T = TypeVar("_T")
_M = TypeVar("_M")


class Headers:
    """Case-insensitive, multi-valued, order-preserving HTTP header fields.

    >>> h = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    >>> h["SET-COOKIE"], h.get_all("set-cookie")
    ('a=1, b=2', ['a=1', 'b=2'])

    Iterating and ``len()`` see each distinct name once, lowercased; ``items()`` gives
    the raw pairs in their original case and order.
    """

    __slots__ = ("_index", "_items")

    def __init__(
        self, items: Iterable[tuple[str, str]] | Mapping[str, str] | Headers | None = None
    ) -> None:
        self._items: list[tuple[str, str]] = []
        # Lowercased name -> values. None once compact(): lookups then scan _items.
        self._index: dict[str, list[str]] | None = {}
        if isinstance(items, Headers):
            items = items._items
        elif isinstance(items, Mapping):
            items = items.items()
        for name, value in items or ():
            self.add(name, value)

    @classmethod
    def _of(cls, items: list[tuple[str, str]], index: dict[str, list[str]] | None) -> Headers:
        """Headers from already built fields (``index`` None: a compact one)."""
        headers = cls.__new__(cls)
        headers._items = items
        headers._index = index
        return headers

    def compact(self) -> None:
        """Drop the lookup index, keeping the fields: about half the memory.

        For headers kept long and rarely read, as a WebSocket's handshake: lookups
        then scan the fields (a few microseconds for a browser's request); the first
        change rebuilds the index.
        """
        self._index = None

    @property
    def _map(self) -> dict[str, list[str]]:
        """The index, or for a compact instance a fresh one (not kept)."""
        index = self._index
        if index is None:
            index = {}
            for name, value in self._items:
                index.setdefault(name.lower(), []).append(value)
        return index

    def _values(self, name: str) -> list[str]:
        """The values of ``name``, in order; do not modify the list."""
        key = name.lower()
        index = self._index
        if index is not None:
            return index.get(key, _NONE)
        return [value for field, value in self._items if field.lower() == key]

    def add(self, name: str, value: str) -> None:
        """Append a field, keeping any existing ones with the same name."""
        if self._index is None:
            self._index = self._map  # changing it: index it again
        self._items.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    def __getitem__(self, name: str) -> str:
        """The value; several values are joined with ``", "`` (RFC 9110 5.3)."""
        values = self._values(name)
        if not values:
            raise KeyError(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def get(self, name: str, default: object = None) -> object:
        """``self[name]``, or ``default`` when absent."""
        values = self._values(name)
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order; ``[]`` when absent."""
        return list(self._values(name))

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every field named ``name`` with one."""
        if name in self:
            del self[name]
        self.add(name, value)

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        index = self._index = self._map
        if key not in index:
            raise KeyError(name)
        del index[key]
        self._items = [item for item in self._items if item[0].lower() != key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._values(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def items(self) -> list[tuple[str, str]]:
        """The raw ``(name, value)`` pairs, in order and original case."""
        return list(self._items)

    def copy(self) -> Headers:
        return Headers(self)

    def __eq__(self, other: object) -> bool:
        # Order matters between values of one name, not between different names.
        if not isinstance(other, Headers):
            return NotImplemented
        return self._map == other._map

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _lower_list(values: list[str]) -> set[str]:
    """The elements of comma-separated list header values, lowercased."""
    return {item.strip().lower() for item in ",".join(values).split(",")}


@dataclass(slots=True)
class Request:
    """An HTTP request. ``target`` is the raw request-target, e.g. ``/chat?room=1``.

    ``path_params`` holds the values a server route captured from the path, e.g.
    ``{"room": "lobby"}`` for ``/ws/{room}``; it is empty otherwise.

    ``client_address`` is the client's IP address as a string, set by the server: the
    TCP peer's, or the one a trusted proxy forwarded (``serve(trusted_proxies=...)``).
    It is None on requests the server did not receive.
    """

    method: str
    target: str
    headers: Headers
    body: bytes = b""
    version: str = "HTTP/1.1"
    path_params: dict[str, str] = field(default_factory=dict)
    client_address: str | None = None

    @property
    def path(self) -> str:
        """The target before ``?``, not percent-decoded: ``"/a%20b?x=1"`` -> ``"/a%20b"``."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        """The raw query string after ``?``, ``""`` if none."""
        return self.target.partition("?")[2]

    @property
    def query_params(self) -> dict[str, list[str]]:
        """The decoded query: ``"?a=1&a=2&b"`` -> ``{"a": ["1", "2"], "b": [""]}``."""
        return parse_qs(self.query, keep_blank_values=True)

    @property
    def cookies(self) -> dict[str, str]:
        """The Cookie header's pairs (RFC 6265 5.4); the first of a repeated name wins.

        >>> Request("GET", "/", Headers({"Cookie": 'sid=abc; theme="dark"'})).cookies
        {'sid': 'abc', 'theme': 'dark'}

        Pairs without ``=`` are skipped; values are not percent-decoded.
        """
        cookies: dict[str, str] = {}
        for pair in "; ".join(self.headers.get_all("Cookie")).split(";"):
            name, eq, value = pair.partition("=")
            name, value = name.strip(), value.strip()
            if eq and name and name not in cookies:
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                cookies[name] = value
        return cookies

    def json(self) -> Any:
        """The body parsed as JSON (UTF-8, -16 or -32).

        Raises InvalidHTTP (400) naming what is wrong, e.g. ``invalid JSON body:
        Expecting value: line 1 column 1 (char 0)``; a server answers it as such.
        """
        try:
            return json.loads(self.body)
        except RecursionError:
            raise InvalidHTTP("invalid JSON body: nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidHTTP(f"invalid JSON body: {exc}") from None

    @property
    def keep_alive(self) -> bool:
        """Whether the connection persists after this request (RFC 9112 9.3)."""
        options = _lower_list(self.headers.get_all("Connection"))
        if self.version == "HTTP/1.0":
            return "keep-alive" in options
        return "close" not in options


@dataclass(slots=True)
class Response:
    """An HTTP response; an empty ``reason`` becomes the standard phrase for ``status``."""

    status: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not self.reason:
            self.reason = _PHRASES.get(self.status, "")


def _serialize(start_line: str, headers: Headers, body: bytes, add_length: bool) -> bytes:
    parts = [start_line, "\r\n"]
    for name, value in headers._items:
        # Refusing CR and LF here is what stops header injection.
        if _TOKEN.fullmatch(name) is None or _FORBIDDEN.search(value):
            raise ValueError(f"invalid header field {name!r}: {value!r}")
        parts += (name, ": ", value, "\r\n")
    if add_length and "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        parts += ("Content-Length: ", str(len(body)), "\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1") + body


def serialize_request(request: Request) -> bytes:
    """Encode ``request``, adding ``Content-Length`` when it has a body and no framing header.

    >>> serialize_request(Request("GET", "/", Headers({"Host": "example.com"})))
    b'GET / HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n'

    Raises ValueError for an invalid method, target, version or header field.
    """
    line = f"{request.method} {request.target} {request.version}"
    if _REQUEST_LINE.fullmatch(line.encode("latin-1", "replace")) is None:
        raise ValueError(f"invalid request line {line!r}")
    return _serialize(line, request.headers, request.body, bool(request.body))


def serialize_response(response: Response) -> bytes:
    """Encode ``response``, adding ``Content-Length`` unless it is 1xx, 204 or 304.

    >>> serialize_response(Response(404, body=b"no"))
    b'HTTP/1.1 404 Not Found\\r\\nContent-Length: 2\\r\\n\\r\\nno'

    Raises ValueError for an invalid status, reason or header field, or a body on a
    response that cannot have one.
    """
    status = response.status
    line = f"HTTP/1.1 {status} {response.reason}"
    if _STATUS_LINE.fullmatch(line.encode("latin-1", "replace")) is None:
        raise ValueError(f"invalid status line {line!r}")
    has_body = status >= 200 and status not in (204, 304)
    if response.body and not has_body:
        raise ValueError(f"a {status} response cannot have a body")
    # Even an empty body gets a length, so the peer need not wait for EOF (keep-alive).
    return _serialize(line, response.headers, response.body, has_body)


# A parser is a generator that yields whenever it needs more bytes and returns the
# message: the generator's frame holds the parse state between feed() calls.
_Parse = Generator[None, None, _M]


class _Parser(Generic[_M]):
    _what = "message"

    def __init__(self, limits: Limits = _DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buf = bytearray()
        self._eof = False
        self._parser: _Parse[_M] | None = None

    def feed(self, data: bytes) -> None:
        """Buffer bytes received from the peer."""
        if self._eof:
            raise RuntimeError("feed() after feed_eof()")
        self._buf += data

    def feed_eof(self) -> None:
        """Signal that the peer closed its side: no more bytes will come."""
        self._eof = True

    def take_remaining(self) -> bytes:
        """Return and drop the buffered bytes after the last message returned.

        After an upgrade (a 101 response, or the request the server accepted) the
        rest of the stream is not HTTP: call this, then stop using the parser.
        """
        self._parser = None
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def _next(self) -> _M | None:
        if self._parser is None:
            if not self._buf:
                return None
            self._parser = self._parse()
        try:
            next(self._parser)
        except StopIteration as done:
            self._parser = None
            message: _M = done.value
            return message
        if self._eof:
            raise InvalidHTTP(f"connection closed in the middle of a {self._what}")
        return None

    def _parse(self) -> _Parse[_M]:
        raise NotImplementedError

    def _read_line(self, limit: int, status: int, what: str) -> _Parse[bytes]:
        """Read a line of at most ``limit`` bytes before its CRLF; raise ``status`` if longer."""
        buf = self._buf
        end = limit + 2
        start = 0
        # Search only new bytes, and never further than the limit.
        while (n := buf.find(b"\n", start, end)) < 0:
            if len(buf) >= end:
                raise InvalidHTTP(f"{what} too long", status)
            start = len(buf)
            yield
        if n == 0 or buf[n - 1] != 0x0D:
            raise InvalidHTTP("line ends with a bare LF instead of CRLF")
        line = bytes(buf[: n - 1])
        del buf[: n + 1]  # cheap: bytearray deletes a prefix by moving its start
        return line

    def _read_exact(self, size: int) -> _Parse[bytes]:
        buf = self._buf
        while len(buf) < size:
            yield
        data = bytes(buf[:size])
        del buf[:size]
        return data

    def _read_to_eof(self) -> _Parse[bytes]:
        buf = self._buf
        while len(buf) <= self._limits.max_body_size:
            if self._eof:
                data = bytes(buf)
                buf.clear()
                return data
            yield
        raise InvalidHTTP("body too large", 413)

    def _read_fields(self, used: int) -> _Parse[Headers]:
        """Read header (or trailer) lines up to the empty line; ``used`` bytes already count."""
        limits = self._limits
        headers = Headers()
        while True:
            budget = limits.max_header_size - used - 2
            if budget < limits.max_line_length:
                line = yield from self._read_line(budget, 431, "header section")
            else:
                line = yield from self._read_line(limits.max_line_length, 431, "header line")
            if not line:
                return headers
            used += len(line) + 2
            if len(headers._items) >= limits.max_header_count:
                raise InvalidHTTP("too many header lines", 431)
            match = _FIELD.fullmatch(line)
            if match is None:
                raise _field_error(line)
            headers.add(match[1].decode(), match[2].strip(b" \t").decode("latin-1"))

    def _framing(self, headers: Headers, http10: bool) -> int | None:
        """The body length from Content-Length, None if chunked, -1 if neither is present."""
        codings = headers.get_all("Transfer-Encoding")
        lengths = headers.get_all("Content-Length")
        if codings:
            if lengths:
                # Disagreeing framing is how request smuggling works (RFC 9112 6.3).
                raise InvalidHTTP("both Transfer-Encoding and Content-Length")
            if http10:
                raise InvalidHTTP("Transfer-Encoding in an HTTP/1.0 message")
            names = [c.strip().lower() for c in ",".join(codings).split(",")]
            if names[-1] != "chunked":
                raise InvalidHTTP("chunked must be the final transfer coding")
            if len(names) > 1:
                raise InvalidHTTP(f"unsupported transfer coding {names[0]!r}", 501)
            return None
        if not lengths:
            return -1
        values = {v.strip() for v in ",".join(lengths).split(",")}
        value = values.pop()
        if values or not (value.isascii() and value.isdigit()):
            raise InvalidHTTP(f"invalid Content-Length {', '.join(lengths)!r}")
        # Compare the digit count first: int() of a huge string is slow.
        length = int(value) if len(value) <= 18 else -1
        if not 0 <= length <= self._limits.max_body_size:
            raise InvalidHTTP(f"body too large: Content-Length {value}", 413)
        return length

    def _read_body(self, framing: int | None) -> _Parse[bytes]:
        if framing is None:
            return (yield from self._read_chunked())
        if framing < 0:
            return (yield from self._read_to_eof())
        return (yield from self._read_exact(framing))

    def _read_chunk_size(self) -> _Parse[int]:
        """Read a chunk size line; return the size (0: the last chunk)."""
        line = yield from self._read_line(self._limits.max_line_length, 400, "chunk size line")
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            raise InvalidHTTP(f"invalid chunk size line {line[:80]!r}")
        return int(match[1], 16)

    def _read_chunked(self) -> _Parse[bytes]:
        body = bytearray()
        while True:
            size = yield from self._read_chunk_size()
            if size == 0:
                break
            if len(body) + size > self._limits.max_body_size:
                raise InvalidHTTP("body too large", 413)
            chunk = yield from self._read_exact(size + 2)
            if chunk[-2:] != b"\r\n":
                raise InvalidHTTP("chunk data not followed by CRLF")
            body += memoryview(chunk)[:-2]
        yield from self._read_fields(0)  # trailers: checked, then dropped
        return bytes(body)


def _field_error(line: bytes) -> InvalidHTTP:
    """Say precisely what is wrong with a header line that failed to match."""
    name, colon, _ = line.partition(b":")
    if line[:1] in (b" ", b"\t"):
        reason = "obsolete line folding"
    elif not colon:
        reason = "header line without a colon"
    elif name.rstrip(b" \t") != name:
        reason = "whitespace between header name and colon"
    elif _FIELD.fullmatch(name + b":") is None:
        reason = "invalid header name"
    else:
        reason = "invalid character in header value"
    return InvalidHTTP(f"{reason}: {line[:80]!r}")


class BodyReader(_Parser[None]):
    """A request body decoded as its bytes arrive, for a server that streams it
    (:attr:`RequestParser.stream_body`): Content-Length, or chunked when ``length``
    is None, within ``limits.max_body_size``. ``feed()`` bytes; ``take()`` returns
    the body bytes decoded since the last call and raises InvalidHTTP (400, 413)
    when the body is malformed or too large; ``complete`` says it is all there."""

    def __init__(self, limits: Limits, length: int | None) -> None:
        super().__init__(limits)
        self.complete = False
        self._pieces: list[bytes] = []
        self._steps = self._body(length)

    def take(self) -> bytes:
        """The body bytes decoded since the last call (``complete`` says if that is all)."""
        if not self.complete:
            try:
                next(self._steps)
            except StopIteration:
                self.complete = True
        piece = b"".join(self._pieces)
        self._pieces.clear()
        return piece

    def _body(self, length: int | None) -> _Parse[None]:
        if length is not None:
            yield from self._copy(length)
            return
        total = 0
        while True:
            size = yield from self._read_chunk_size()
            if size == 0:
                break
            total += size
            if total > self._limits.max_body_size:
                raise InvalidHTTP("body too large", 413)
            yield from self._copy(size)
            if (yield from self._read_exact(2)) != b"\r\n":
                raise InvalidHTTP("chunk data not followed by CRLF")
        yield from self._read_fields(0)  # trailers: checked, then dropped

    def _copy(self, size: int) -> _Parse[None]:
        """Move ``size`` body bytes to the pieces, as they arrive."""
        buf = self._buf
        while size:
            while not buf:
                yield
            piece = bytes(buf[:size])
            del buf[:size]
            self._pieces.append(piece)
            size -= len(piece)


def _parse_head_python(
    buf: bytes | bytearray, max_size: int, max_count: int, max_line: int
) -> tuple[int, str, str, str, list[tuple[str, str]], dict[str, list[str]]] | None:
    """``_speedups.parse_head`` in Python: the head at the start of ``buf`` if it is
    all there (its blank line within ``max_size`` bytes) and every line is well formed
    and within the limits, as ``(end, method, target, version, items, index)``; else
    None. ``end`` is where the blank line starts; field names are interned (requests
    kept as ``ws.request`` share them) and ``index`` maps lower-case names to values."""
    end = buf.find(b"\r\n\r\n", 0, max_size)
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    if len(lines) > max_count + 1:
        return None
    line = lines[0]
    match = _REQUEST_LINE_TEXT.fullmatch(line)
    if match is None or len(line) > max_line:
        return None
    items = []
    index: dict[str, list[str]] = {}
    fullmatch = _FIELD_TEXT.fullmatch
    for line in lines[1:]:
        field = fullmatch(line)
        if field is None or len(line) > max_line:
            return None
        name = intern(field[1])
        value = field[2].strip(" \t")
        items.append((name, value))
        key = name.lower()
        if key in index:
            index[key].append(value)
        else:
            index[key] = [value]
    method, target, version = match.groups()
    return end, intern(method), target, intern(version), items, index


try:
    from .._speedups import parse_head
except ImportError:  # pragma: no cover - exercised by the pure-Python test
    parse_head = _parse_head_python


class RequestParser(_Parser[Request]):
    """Parse requests from a byte stream (server side).

    >>> p = RequestParser()
    >>> p.feed(b"GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: x\\r\\n")
    >>> p.next_request().target, p.next_request()
    ('/a', None)

    ``next_request()`` returns each complete request in turn (bodies by Content-Length
    or chunked, decoded), or None until more bytes arrive. Once it raised InvalidHTTP,
    answer with ``exc.status`` and close the connection.
    """

    _what = "request"

    #: When set and true for a request with a body, ``next_request()`` returns that
    #: request as soon as its head is parsed, with an empty ``body``: the body's
    #: bytes stay for the caller, who reads them with ``take_remaining()``.
    stream_body: Callable[[Request], bool] | None = None

    def next_request(self) -> Request | None:
        """The next complete request, or None if more data is needed."""
        if self._parser is None:
            request = self._whole_head()
            if request is not None:
                return request
        return self._next()

    def _whole_head(self) -> Request | None:
        """The fast path: a request without a body whose whole head is buffered, as
        an upgrade request nearly always is, parsed in one pass over its text.

        None when that is not the case or anything is off: the incremental parser
        then reads the same bytes and says precisely what is wrong.
        """
        buf = self._buf
        limits = self._limits
        head = parse_head(
            buf, limits.max_header_size, limits.max_header_count, limits.max_line_length
        )
        if head is None:
            return None
        end, method, target, version, items, index = head
        if "transfer-encoding" in index or index.get("content-length", ["0"]) != ["0"]:
            return None  # a body to read
        hosts = index.get("host")
        if (hosts is None and version != "HTTP/1.0") or (hosts is not None and len(hosts) > 1):
            return None
        del buf[: end + 4]
        return Request(method, target, Headers._of(items, index), b"", version)

    def _parse(self) -> _Parse[Request]:
        limits = self._limits
        line = yield from self._read_line(
            min(limits.max_line_length, limits.max_header_size - 4), 414, "request line"
        )
        match = _REQUEST_LINE.fullmatch(line)
        if match is None:
            raise InvalidHTTP(f"invalid request line {line[:80]!r}")
        method, target, version, major = (group.decode() for group in match.groups())
        if major != "1":
            # 505 says precisely "this HTTP major version is not supported" (RFC 9110 15.6.6).
            raise InvalidHTTP(f"{version} is not supported", 505)
        headers = yield from self._read_fields(len(line) + 2)
        hosts = headers.get_all("Host")
        if len(hosts) > 1 or (not hosts and version != "HTTP/1.0"):
            # RFC 9112 3.2: a server MUST answer 400 to these.
            raise InvalidHTTP("missing Host header" if not hosts else "multiple Host headers")
        framing = self._framing(headers, version == "HTTP/1.0")
        body = b""
        if framing is None or framing > 0:  # a request without framing headers has no body
            head = Request(method, target, headers, b"", version)
            if self.stream_body is not None and self.stream_body(head):
                return head
            body = yield from self._read_body(framing)
        return Request(method, target, headers, body, version)


class ResponseParser(_Parser[Response]):
    """Parse responses from a byte stream (client side).

    >>> p = ResponseParser()
    >>> p.feed(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi")
    >>> p.next_response().body
    b'hi'

    1xx (including 101), 204 and 304 responses have no body, nor do any when ``head``
    is true (answers to HEAD). Others end by Content-Length, chunked, or else at EOF:
    such a response is complete only after ``feed_eof()``.
    """

    _what = "response"

    def __init__(self, limits: Limits = _DEFAULT_LIMITS, *, head: bool = False) -> None:
        super().__init__(limits)
        self._head = head

    def next_response(self) -> Response | None:
        """The next complete response, or None if more data is needed."""
        return self._next()

    def _parse(self) -> _Parse[Response]:
        line = yield from self._read_line(self._limits.max_line_length, 400, "status line")
        match = _STATUS_LINE.fullmatch(line)
        if match is None:
            raise InvalidHTTP(f"invalid status line {line[:80]!r}")
        version, major, status_code, reason = match.groups()
        if major != b"1":
            raise InvalidHTTP(f"{version.decode()} is not supported", 505)
        headers = yield from self._read_fields(len(line) + 2)
        status = int(status_code)
        body = b""
        if not (self._head or status < 200 or status in (204, 304)):
            framing = self._framing(headers, version == b"HTTP/1.0")
            if framing != 0:
                body = yield from self._read_body(framing)
        return Response(status, (reason or b"").decode("latin-1"), headers, body)
