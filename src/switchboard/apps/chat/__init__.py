"""The chat demo: rooms over the real-time hub and over HTTP polling, side by side.

``create_app()`` returns the router that ``switchboard serve`` runs; see docs/chat.md.
"""

from .app import DEFAULT_ROOMS, create_app
from .room import ChatMessage, ChatRoom, InvalidChatMessage, clean_name

__all__ = [
    "create_app",
    "DEFAULT_ROOMS",
    "ChatRoom",
    "ChatMessage",
    "InvalidChatMessage",
    "clean_name",
]
