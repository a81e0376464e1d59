"""The asyncio server: HTTP and WebSocket on one port."""

from .server import Handler, Server, serve

__all__ = ["serve", "Server", "Handler"]
