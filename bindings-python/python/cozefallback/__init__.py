"""cozefallback: a Coze OpenAPI client holding a personal and an enterprise credential that moves each
request to the one that works, so a workspace can move to the enterprise edition with no failed call.

Sync::

    with cozefallback.Client(config) as client:
        resp = client.post("/v3/chat", json={...})
        print(resp.credential, resp.attempts, resp.json())

Asyncio::

    async with cozefallback.AsyncClient(config) as client:
        async for event in client.stream("POST", "/v3/chat", json={...}):
            print(event.event, event.data)

The core's log records go to the ``logging`` logger "cozefallback" (secrets redacted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._client import AsyncClient, AsyncEventStream, Client, EventStream
from ._conversations import ConversationHook, ConversationMoved
from ._config import ConfigDict, Credential
from ._errors import (
    ApiError,
    AuthError,
    CancelledError,
    ConfigError,
    ConversationStrandedError,
    CozeError,
    InvalidArgumentError,
    ReauthRequiredError,
    StreamInterruptedError,
    TimeoutError,
    TransportError,
)
from ._native import Event, Response, __version__, redact
from ._websocket import AsyncWebSocketSession, WebSocketSession, WsEvent
from ._oauth import AsyncOAuthApp, AuthorizeUrl, DeviceCode, OAuthApp, OAuthToken

if TYPE_CHECKING:
    from ._transport import AsyncHTTPTransport, HTTPTransport

__all__ = [
    "Client",
    "AsyncClient",
    "ConfigDict",
    "Credential",
    "Response",
    "Event",
    "EventStream",
    "AsyncEventStream",
    "WebSocketSession",
    "AsyncWebSocketSession",
    "WsEvent",
    "CozeError",
    "ConfigError",
    "InvalidArgumentError",
    "ApiError",
    "AuthError",
    "ReauthRequiredError",
    "TransportError",
    "TimeoutError",
    "StreamInterruptedError",
    "CancelledError",
    "ConversationStrandedError",
    "ConversationMoved",
    "ConversationHook",
    "OAuthApp",
    "AsyncOAuthApp",
    "OAuthToken",
    "DeviceCode",
    "AuthorizeUrl",
    "HTTPTransport",
    "AsyncHTTPTransport",
    "redact",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The httpx transports import httpx, an optional dependency: load them on first use.
    if name in ("HTTPTransport", "AsyncHTTPTransport"):
        from . import _transport

        return getattr(_transport, name)
    raise AttributeError(f"module 'cozefallback' has no attribute {name!r}")
