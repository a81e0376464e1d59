"""The threaded client, for scripts and tests: no event loop, same protocol core.

::

    from switchboard.sync import connect

    with connect("ws://127.0.0.1:8765/") as ws:
        ws.send("Hello")
        print(ws.recv(timeout=5))
"""

from .client import connect
from .websocket import WebSocket

__all__ = ["connect", "WebSocket"]
