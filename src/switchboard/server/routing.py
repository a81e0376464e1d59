"""Routes: which handler answers a request, chosen by path and method.

Paths are matched on the raw (still percent-encoded) request path: exact paths by
one dict lookup, then templates with parameters in the order they were added, then
static mounts. Captured values are percent-decoded once into
``request.path_params``.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import unquote

from ..protocol.errors import HandshakeRejected, InvalidHTTP
from ..protocol.http11 import Request, Response
from ..websocket import WebSocket
from .responses import HTTPError, error_response, to_response
from .static import StaticFiles

if TYPE_CHECKING:
    from .asgi import ASGIApp

__all__ = ["Router", "HTTPHandler", "WebSocketHandler", "WebSocketRoute", "Mountable"]

logger = logging.getLogger("switchboard.http")

HTTPHandler = Callable[[Request], Any]
"""A route handler: takes the request, returns (or, if async, resolves to) a
:class:`Response`, a ``dict`` or ``list`` (JSON), ``str``, ``bytes`` or ``None``."""

WebSocketHandler = Callable[[WebSocket], Awaitable[None]]
"""A WebSocket handler: a coroutine function taking the connection."""


class Mountable(Protocol):
    """What :meth:`Router.mount` takes: a component that adds its own routes."""

    def mount(self, router: Router, prefix: str) -> None: ...


_H = TypeVar("_H", bound=Callable[..., Any])
_W = TypeVar("_W", bound=WebSocketHandler)

# {name} matches one path segment; {name:path} the rest of the path, slashes included.
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Z]+")


def _compile(template: str) -> re.Pattern[str] | None:
    """The pattern of a path template, or None when it has no parameters."""
    if not isinstance(template, str):  # @router.get without its parentheses
        raise TypeError(f"a route path must be a string, not {template!r}: @router.get('/path')")
    if not template.startswith("/"):
        raise ValueError(f"route path must start with '/': {template!r}")
    if re.search("[{}]", _PARAM.sub("", template)):
        raise ValueError(f"invalid route path {template!r}: use {{name}} or {{name:path}}")
    regex, pos = "", 0
    for match in _PARAM.finditer(template):
        group = ".*" if match[2] else "[^/]+"
        regex += re.escape(template[pos : match.start()]) + f"(?P<{match[1]}>{group})"
        pos = match.end()
    if not pos:
        return None
    try:
        return re.compile(regex + re.escape(template[pos:]))
    except re.error as exc:  # a name used twice
        raise ValueError(f"invalid route path {template!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class WebSocketRoute:
    """What serves WebSocket connections on a path: the ``handler``, and the only
    ``subprotocols`` it speaks (``None``: the server's ``subprotocols`` apply)."""

    handler: WebSocketHandler
    subprotocols: Sequence[str] | None = None


@dataclass(slots=True)
class _Endpoint:
    """Everything registered for one path: HTTP handlers by method, a WebSocket route."""

    http: dict[str, HTTPHandler] = field(default_factory=dict)
    websocket: WebSocketRoute | None = None

    def allow(self) -> str:
        methods = set(self.http)
        if self.websocket is not None:
            methods.add("GET")
        if "GET" in self.http:
            methods.add("HEAD")
        return ", ".join(sorted(methods))


class Router:
    """HTTP and WebSocket routes for :func:`~switchboard.serve`.

    Example::

        router = Router()

        @router.get("/api/rooms/{room}")
        async def room_info(request: Request) -> dict:
            return {"room": request.path_params["room"]}

        @router.websocket("/ws/{room}")
        async def chat(ws: WebSocket) -> None:
            room = ws.request.path_params["room"]
            ...

        router.static("/", "public")  # public/index.html at /
        async with serve(router, "127.0.0.1", 8000): ...

    ``{name}`` in a path matches one segment, ``{name:path}`` the rest of the path.
    Exact paths win over templates, templates over static mounts; among templates
    the first added wins, among mounts the longest prefix. Every GET route answers
    HEAD too.
    """

    def __init__(self) -> None:
        self._exact: dict[str, _Endpoint] = {}
        self._patterns: list[tuple[re.Pattern[str], _Endpoint]] = []
        self._templates: dict[str, _Endpoint] = {}
        self._mounts: list[tuple[re.Pattern[str], _Endpoint]] = []
        #: Functions adding lines to the server's ``/metrics`` (see :meth:`add_metrics`).
        self.metrics_sources: list[Callable[[], str]] = []
        #: Functions reporting on components for ``/healthz`` (see :meth:`add_health`).
        self.health_checks: list[Callable[[], dict[str, Any]]] = []
        #: Coroutine functions run as a server starts and once it has shut down.
        self.startup_hooks: list[Callable[[], Awaitable[None]]] = []
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        #: Functions run as a server starts closing (see :meth:`add_closing`).
        self.closing_hooks: list[Callable[[], None]] = []

    # -- registration -----------------------------------------------------------

    def route(self, path: str, methods: Sequence[str] = ("GET",)) -> Callable[[_H], _H]:
        """Decorator: ``handler(request)`` answers ``methods`` on ``path``."""
        endpoint = self._endpoint(path)
        names = [method.upper() for method in methods]
        for method in names:
            if _METHOD.fullmatch(method) is None:
                raise ValueError(f"invalid HTTP method {method!r}")
            if method in endpoint.http:
                raise ValueError(f"{method} {path} is already routed")

        def register(handler: _H) -> _H:
            for method in names:
                endpoint.http[method] = handler
            return handler

        return register

    def get(self, path: str) -> Callable[[_H], _H]:
        """Decorator: answer GET (and HEAD) on ``path``."""
        return self.route(path, ["GET"])

    def post(self, path: str) -> Callable[[_H], _H]:
        """Decorator: answer POST on ``path``."""
        return self.route(path, ["POST"])

    def put(self, path: str) -> Callable[[_H], _H]:
        """Decorator: answer PUT on ``path``."""
        return self.route(path, ["PUT"])

    def patch(self, path: str) -> Callable[[_H], _H]:
        """Decorator: answer PATCH on ``path``."""
        return self.route(path, ["PATCH"])

    def delete(self, path: str) -> Callable[[_H], _H]:
        """Decorator: answer DELETE on ``path``."""
        return self.route(path, ["DELETE"])

    def websocket(
        self, path: str, *, subprotocols: Sequence[str] | None = None
    ) -> Callable[[_W], _W]:
        """Decorator: ``handler(ws)`` serves WebSocket connections opened on ``path``.

        ``subprotocols``: the only subprotocols this route speaks, in preference
        order; a handshake offering none of them is refused with 400 (the server's
        ``subprotocols`` option applies to routes without their own). A plain GET
        on a path with only a WebSocket route gets 426 Upgrade Required.
        """
        endpoint = self._endpoint(path)
        if endpoint.websocket is not None:
            raise ValueError(f"WebSocket {path} is already routed")
        if isinstance(subprotocols, str):
            raise TypeError(f"subprotocols is a list of names: subprotocols=[{subprotocols!r}]")

        def register(handler: _W) -> _W:
            endpoint.websocket = WebSocketRoute(
                handler, None if subprotocols is None else tuple(subprotocols)
            )
            return handler

        return register

    def mount(self, prefix: str, app: Mountable) -> None:
        """Add a component that brings its own routes, at ``prefix``.

        ``app`` is anything with a ``mount(router, prefix)`` method, such as a
        :class:`switchboard.realtime.Hub`::

            router.mount("/rt", hub)   # its WebSocket at /rt, its client at /rt/client.js
        """
        prefix = prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"mount prefix must start with '/': {prefix!r}")
        app.mount(self, prefix)

    def asgi(self, **options: Any) -> ASGIApp:
        """This router as an ASGI 3 application, for uvicorn or a FastAPI mount::

            app = router.asgi()              # uvicorn module:app

        Lifespan events run the startup and shutdown hooks. ``options``: see
        :class:`~switchboard.server.asgi.ASGIApp`.
        """
        from .asgi import ASGIApp  # it imports this module

        return ASGIApp(self, **options)

    def add_metrics(self, source: Callable[[], str]) -> None:
        """Add ``source()``, Prometheus exposition text, to the server's ``/metrics``."""
        self.metrics_sources.append(source)

    def add_startup(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``await hook()`` when a server of this router starts listening (a
        failure stops the server from starting)."""
        self.startup_hooks.append(hook)

    def add_shutdown(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``await hook()`` when a server of this router has shut down (after its
        connections closed): to release what a mounted component holds."""
        self.shutdown_hooks.append(hook)

    def add_closing(self, hook: Callable[[], None]) -> None:
        """Run ``hook()`` as soon as a server of this router starts closing, before
        its connections drain: to end what would hold the shutdown (a long poll
        waiting for its next message, say)."""
        self.closing_hooks.append(hook)

    def add_health(self, check: Callable[[], dict[str, Any]]) -> None:
        """Add ``check()`` to ``/healthz``: a dict with ``"ok": bool`` and details. Any
        check not ok makes the status ``"degraded"`` (still 200: the node serves)."""
        self.health_checks.append(check)

    def static(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        max_age: int = 3600,
        index: str | None = "index.html",
    ) -> None:
        """Serve the files under ``directory`` at ``prefix`` (GET and HEAD).

        ``Cache-Control: public, max-age=<max_age>`` (``no-cache`` for 0), with
        ``ETag`` and ``Last-Modified`` for 304 answers to conditional requests. A
        directory URL serves its ``index`` file (``None``: 404). Dotfiles, ``..``
        and symlinks leading outside ``directory`` get 404.
        """
        prefix = prefix.rstrip("/")
        if prefix and _compile(prefix) is not None:
            raise ValueError(f"static prefix cannot have parameters: {prefix!r}")
        endpoint = _Endpoint({"GET": StaticFiles(directory, max_age=max_age, index=index)})
        self._mounts.append((re.compile(re.escape(prefix) + "(?:/(?P<path>.*))?"), endpoint))
        self._mounts.sort(key=lambda mount: -len(mount[0].pattern))  # longest prefix first

    def _endpoint(self, template: str) -> _Endpoint:
        pattern = _compile(template)
        if pattern is None:
            return self._exact.setdefault(template, _Endpoint())
        endpoint = self._templates.get(template)
        if endpoint is None:
            endpoint = self._templates[template] = _Endpoint()
            self._patterns.append((pattern, endpoint))
        return endpoint

    # -- lookup -----------------------------------------------------------------

    def _find(self, path: str) -> tuple[_Endpoint, dict[str, str]] | None:
        endpoint = self._exact.get(path)
        if endpoint is not None:
            return endpoint, {}
        for patterns in (self._patterns, self._mounts):
            for pattern, endpoint in patterns:
                match = pattern.fullmatch(path)
                if match is not None:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    return endpoint, params
        return None

    def routes(self, path: str) -> bool:
        """Whether any route or static mount matches ``path`` (raw, without the query)."""
        return self._find(path) is not None

    def websocket_route(self, request: Request) -> WebSocketRoute:
        """The WebSocket route for ``request``, its path parameters set on it.

        Raises HandshakeRejected (404) when no WebSocket route matches.
        """
        found = self._find(request.path)
        if found is None or found[0].websocket is None:
            raise HandshakeRejected(f"no WebSocket endpoint at {request.path}", 404)
        request.path_params = found[1]
        return found[0].websocket

    def dispatch(self, request: Request) -> Response | Awaitable[Response]:
        """Answer a plain HTTP request: the route's response, or 404, 405 or 426.

        The result is a Response, or an awaitable one when the handler is async;
        neither raises: a handler's exception becomes its response.
        """
        found = self._find(request.path)
        if found is None:
            return error_response(404)
        endpoint, params = found
        method = request.method
        handler = endpoint.http.get(method)
        if handler is None and method == "HEAD":
            handler = endpoint.http.get("GET")
        if handler is None:
            if endpoint.websocket is not None and method == "GET":
                return error_response(
                    426,
                    "This is a WebSocket endpoint: connect with a WebSocket client.",
                    [
                        ("Upgrade", "websocket"),
                        ("Sec-WebSocket-Version", "13"),
                        ("Connection", "Upgrade"),  # RFC 9110 7.8: Upgrade is a connection option
                    ],
                )
            return error_response(
                405, f"{method} is not allowed here", [("Allow", endpoint.allow())]
            )
        request.path_params = params
        try:
            result = handler(request)
            if inspect.isawaitable(result):
                return _finish(result, request)
            return to_response(result)
        except Exception as exc:
            return _failure(request, exc)


async def _finish(pending: Awaitable[object], request: Request) -> Response:
    try:
        return to_response(await pending)
    except Exception as exc:
        return _failure(request, exc)


def _failure(request: Request, exc: Exception) -> Response:
    """The response to a handler's exception: its own for HTTPError and InvalidHTTP
    (e.g. from ``request.json()``), else a logged 500 that reveals nothing."""
    if isinstance(exc, HTTPError):
        return error_response(exc.status, exc.message, exc.headers)
    if isinstance(exc, InvalidHTTP):
        return error_response(exc.status, exc.reason)
    logger.error("handler failed: %s %s", request.method, request.target, exc_info=exc)
    return error_response(500)
