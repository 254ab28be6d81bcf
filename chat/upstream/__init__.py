"""
The OpenAI-compatible provider: the requests (client), the turning of streamed bytes into
deltas (parser), and what can go wrong, in words for people and for the log (errors).
"""

from chat.upstream.client import (
    DEMO_MODEL,
    Endpoint,
    client_for,
    close_clients,
    complete,
    demo_api_key,
    demo_endpoint,
    stream_chat,
)
from chat.upstream.errors import MESSAGES, UpstreamError, public_error, public_message, redact, retry_after
from chat.upstream.parser import StreamParser

__all__ = [
    "DEMO_MODEL",
    "Endpoint",
    "MESSAGES",
    "StreamParser",
    "UpstreamError",
    "client_for",
    "close_clients",
    "complete",
    "demo_api_key",
    "demo_endpoint",
    "public_error",
    "public_message",
    "redact",
    "retry_after",
    "stream_chat",
]
