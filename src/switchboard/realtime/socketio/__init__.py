"""Socket.IO v5 over Engine.IO v4 for the hub: ``router.mount("/socket.io", SocketIO(hub))``.

The official clients (``socket.io-client`` 4 in Node and browsers, python-socketio's
``AsyncClient``) connect with their default options and are hub sessions like the
native ones: the same handlers, rooms, limits and metrics. See docs/socketio.md.
"""

from .server import SocketIO, SocketIOSession

__all__ = ["SocketIO", "SocketIOSession"]
