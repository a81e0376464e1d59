"""The chat demo: one chat over WebSocket and over HTTP polling, side by side.

``create_app()`` returns the router that ``switchboard serve`` runs; see docs/chat.md.
"""

from .app import create_app
from .room import ChatMessage, ChatRoom, InvalidChatMessage

__all__ = ["create_app", "ChatRoom", "ChatMessage", "InvalidChatMessage"]
