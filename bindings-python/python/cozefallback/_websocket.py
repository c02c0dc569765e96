"""Realtime WebSocket sessions (``/v1/chat``, ``/v1/audio/speech``, ``/v1/audio/transcriptions``) over the core."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Type, Union

from . import _aio, _native

__all__ = ["WebSocketSession", "AsyncWebSocketSession", "WsEvent"]

WsEvent = Union[Dict[str, Any], bytes]
"""A server event as the server sent it (``{"id", "event_type", "data", "detail": {"logid"}}``), or a binary
frame as bytes."""


def _bytes_arg(data: Union[bytes, bytearray, memoryview]) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a binary frame must be bytes, not {type(data).__name__}")
    return bytes(data)


class _Info:
    """The session's result, read from the native session."""

    def _info(self) -> _native.NativeWebSocket:
        raise NotImplementedError

    @property
    def credential(self) -> str:
        """"personal" or "enterprise": the credential connected now (final once an event was delivered)."""
        return self._info().credential

    @property
    def attempts(self) -> int:
        """Handshakes made so far, over both credentials."""
        return self._info().attempts

    @property
    def logid(self) -> Optional[str]:
        """The Coze log id of the last handshake answer."""
        return self._info().logid

    @property
    def events_delivered(self) -> int:
        """Events handed out so far."""
        return self._info().events_delivered

    @property
    def close_code(self) -> Optional[int]:
        """The server's close code once it closed the session (1000 normal, 1005 none given), else None."""
        return self._info().close_code

    @property
    def close_reason(self) -> Optional[str]:
        """The reason in the server's close frame, once it closed the session."""
        return self._info().close_reason

    @property
    def url(self) -> str:
        """The session's URL (it never carries a token)."""
        return self._info().url


class WebSocketSession(_Info, Iterator[WsEvent]):
    """A realtime session: ``send(event)``, iterate for the server's events, ``close()``; ``with`` closes it.

    Until the server's first event the events sent are held: if that event is an ``error`` with a fallback code
    (or the handshake was refused so), the session reconnects with the other credential and replays them in
    order. Once an event was handed out nothing is replayed: a broken connection raises
    :class:`StreamInterruptedError` carrying ``events_delivered``.
    """

    def __init__(self, native: _native.NativeWebSocket) -> None:
        self._native = native
        self._done = False

    def _info(self) -> _native.NativeWebSocket:
        return self._native

    def send(self, event: Mapping[str, Any]) -> None:
        """Sends one event: a dict with ``event_type`` (and ``id``, ``data`` as the API wants)."""
        self._native.send(event)

    def send_binary(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Sends one binary frame."""
        self._native.send_binary(_bytes_arg(data))

    def __iter__(self) -> "WebSocketSession":
        return self

    def __next__(self) -> WsEvent:
        if self._done:
            raise StopIteration
        try:
            event: Optional[WsEvent] = self._native.next()
        except BaseException:
            self._done = True
            raise
        if event is None:
            self._done = True
            raise StopIteration
        return event

    def close(self) -> None:
        """Sends a close frame (bounded wait) and ends the session; iteration stops. Idempotent."""
        self._done = True
        self._native.close()

    def __enter__(self) -> "WebSocketSession":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WebSocketSession url={self.url!r} credential={self.credential!r} attempts={self.attempts}>"


class AsyncWebSocketSession(_Info):
    """The same session for asyncio: ``async with client.websocket(...) as ws``, ``await ws.send(...)``,
    ``async for event in ws``; or ``await client.websocket(...)`` to open it first."""

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._opener = opener
        self._native: Optional[_native.NativeWebSocket] = None
        self._done = False

    async def _open(self) -> "AsyncWebSocketSession":
        if self._native is None:
            self._native = await self._opener()
        return self

    def __await__(self) -> Any:
        return self._open().__await__()

    def _info(self) -> _native.NativeWebSocket:
        if self._native is None:
            raise RuntimeError("the session is not open yet: await it, or use `async with` / `async for`")
        return self._native

    async def send(self, event: Mapping[str, Any]) -> None:
        """Sends one event: a dict with ``event_type``."""
        await self._open()
        await _aio.call(self._info().send, event)

    async def send_binary(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Sends one binary frame."""
        payload = _bytes_arg(data)
        await self._open()
        await _aio.call(self._info().send_binary, payload)

    def __aiter__(self) -> "AsyncWebSocketSession":
        return self

    async def __anext__(self) -> WsEvent:
        if self._done:
            raise StopAsyncIteration
        try:
            await self._open()
            event: Optional[WsEvent] = await _aio.call(self._info().next)
        except BaseException:
            self._done = True
            raise
        if event is None:
            self._done = True
            raise StopAsyncIteration
        return event

    async def close(self) -> None:
        """Sends a close frame (bounded wait) and ends the session. Idempotent."""
        self._done = True
        if self._native is not None:
            await _aio.call(self._native.close)

    async def aclose(self) -> None:
        """The same as :meth:`close`."""
        await self.close()

    async def __aenter__(self) -> "AsyncWebSocketSession":
        return await self._open()

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        if self._native is None:
            return "<AsyncWebSocketSession (not open)>"
        return f"<AsyncWebSocketSession url={self.url!r} credential={self.credential!r} attempts={self.attempts}>"
