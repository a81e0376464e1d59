"""The asyncio server: HTTP routes, static files and WebSocket on one port."""

from .responses import HTTPError, html_response, json_response, text_response
from .routing import HTTPHandler, Router, WebSocketHandler
from .server import Server, run, serve, tls_context

__all__ = [
    "serve",
    "run",
    "Server",
    "Router",
    "HTTPError",
    "HTTPHandler",
    "WebSocketHandler",
    "html_response",
    "json_response",
    "text_response",
    "tls_context",
]
