"""The blocking ``Client`` and the asyncio ``AsyncClient`` over the native core."""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from types import TracebackType
from typing import IO, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

from . import _aio, _native
from ._conversations import ConversationHook, ConversationMoved
from ._config import ConfigDict
from ._native import Event, Response
from ._websocket import AsyncWebSocketSession, WebSocketSession

__all__ = ["Client", "AsyncClient", "EventStream", "AsyncEventStream", "Config", "FileInput", "Mode", "ConversationHook"]

Config = Union[ConfigDict, Mapping[str, Any], str]
"""A config dict in the shared schema (typed as :class:`ConfigDict`), or the same as a JSON string."""

Mode = str
""""personal_first", "enterprise_first", "personal_only" or "enterprise_only"."""

QueryValue = Union[str, int, float, bool, None, Sequence[Union[str, int, float, bool]]]
Query = Union[Mapping[str, QueryValue], Sequence[Tuple[str, Any]]]
Headers = Union[Mapping[str, str], Sequence[Tuple[str, str]]]
Data = Union[bytes, bytearray, memoryview, str, Mapping[str, Any]]
FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], IO[str]]


def _config_arg(config: Config) -> Config:
    # The native module converts a mapping itself, so that a value JSON cannot hold (bytes, a set, an int past
    # 64 bits) raises ConfigError naming its dotted path instead of a TypeError from json.dumps.
    if isinstance(config, (str, Mapping)):
        return config
    raise TypeError(f"config must be a dict or a JSON string, not {type(config).__name__}")


def _qv(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    return str(v)


def _query(query: Optional[Query]) -> Optional[List[Tuple[str, str]]]:
    if query is None:
        return None
    items = query.items() if isinstance(query, Mapping) else query
    out: List[Tuple[str, str]] = []
    for k, v in items:
        if isinstance(v, (list, tuple)):
            out.extend((str(k), _qv(x)) for x in v)
        else:
            out.append((str(k), _qv(v)))
    return out


def _headers(headers: Optional[Headers]) -> List[Tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), str(v)) for k, v in items]


def _body(data: Optional[Data], headers: List[Tuple[str, str]]) -> Optional[bytes]:
    if data is None:
        return None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, Mapping):
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        return urllib.parse.urlencode(list(data.items()), doseq=True).encode("ascii")
    raise TypeError(f"data must be bytes, str or a mapping, not {type(data).__name__}")


def _args(
    query: Optional[Query], json: Any, data: Optional[Data], headers: Optional[Headers], timeout: Optional[float]
) -> Dict[str, Any]:
    # `timeout` goes to the native module as given: the core range-checks it (InvalidArgumentError).
    if json is not None and data is not None:
        raise TypeError("pass json or data, not both")
    hdrs = _headers(headers)
    body = _body(data, hdrs)
    return {
        "query": _query(query),
        "headers": hdrs or None,
        "json": json,
        "data": body,
        "timeout": timeout,
    }


def _read_file(file: FileInput, filename: Optional[str]) -> Tuple[str, bytes]:
    """(file name, content) of a path, bytes or a file object."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        return (filename or "file", bytes(file))
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        with open(path, "rb") as f:
            return (filename or os.path.basename(path), f.read())
    read = getattr(file, "read", None)
    if read is None:
        raise TypeError(f"file must be a path, bytes or a file object, not {type(file).__name__}")
    content = read()
    if isinstance(content, str):
        content = content.encode("utf-8")
    name = filename
    if name is None:
        raw = getattr(file, "name", None)
        name = os.path.basename(raw) if isinstance(raw, str) and raw else "file"
    return (name, bytes(content))


class EventStream(Iterator[Event]):
    """Server-sent events of one response: iterate for :class:`Event` objects; ``with`` closes the stream.

    Falls back to the other credential on the response head or a leading error event; once an event has been
    handed out nothing is replayed (a broken stream raises :class:`StreamInterruptedError`).
    """

    def __init__(self, native: _native.NativeStream) -> None:
        self._native = native
        self._done = False

    @property
    def status(self) -> int:
        return self._native.status

    @property
    def headers(self) -> Dict[str, str]:
        return self._native.headers

    @property
    def credential(self) -> str:
        """The credential serving this stream: "personal" or "enterprise"."""
        return self._native.credential

    @property
    def attempts(self) -> int:
        return self._native.attempts

    @property
    def logid(self) -> Optional[str]:
        return self._native.logid

    @property
    def conversation_moved(self) -> Optional[ConversationMoved]:
        """Set when the chat's conversation was stranded by the move and carried over before the stream opened
        (no event of the old conversation reaches the caller); None when nothing moved."""
        moved: Optional[ConversationMoved] = self._native.conversation_moved
        return moved

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> Event:
        if self._done:
            raise StopIteration
        try:
            event = self._native.next()
        except BaseException:
            self._done = True
            raise
        if event is None:
            self._done = True
            raise StopIteration
        return event

    def close(self) -> None:
        """Closes the stream and its connection. Idempotent."""
        self._done = True
        self._native.close()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        moved = self.conversation_moved
        extra = f" conversation_moved={moved.from_!r}->{moved.to!r}" if moved is not None else ""
        return f"<EventStream credential={self.credential!r} attempts={self.attempts}{extra}>"


def _check_id(method: str, name: str, value: object) -> None:
    # The native module's own TypeError does not name the argument on every CPython version.
    if not isinstance(value, str):
        raise TypeError(f"{method}: `{name}` must be a conversation id (a str), not {type(value).__name__}")


_C = TypeVar("_C", bound="_Base")


class _Base:
    _native: _native.NativeClient

    def __init__(self, config: Config, *, on_conversation_moved: Optional[ConversationHook] = None) -> None:
        """Builds a client from a config dict (or JSON string) in the shared schema; raises ConfigError.
        ``on_conversation_moved`` installs the hook of :meth:`set_conversation_hook`."""
        self._native = _native.NativeClient(_config_arg(config))
        if on_conversation_moved is not None:
            self.set_conversation_hook(on_conversation_moved)

    @classmethod
    def from_env(cls: Type["_C"], *, on_conversation_moved: Optional[ConversationHook] = None) -> "_C":
        """Builds a client from the official SDKs' environment variables (COZE_API_BASE, COZE_API_TOKEN,
        COZE_API_TOKEN_ENTERPRISE, COZE_JWT_OAUTH_*, COZE_PERSONAL_ACCOUNT_ID, COZE_ENTERPRISE_ID)."""
        obj = cls.__new__(cls)
        obj._native = _native.NativeClient.from_env()
        if on_conversation_moved is not None:
            obj.set_conversation_hook(on_conversation_moved)
        return obj

    @property
    def base_url(self) -> str:
        return self._native.base_url

    @property
    def mode(self) -> Mode:
        """The routing mode in force."""
        return self._native.mode

    @property
    def closed(self) -> bool:
        return self._native.closed

    def set_mode(self, mode: Mode) -> None:
        """Changes the routing mode at run time (the cut-over switch)."""
        self._native.set_mode(mode)

    def metrics(self) -> Dict[str, Any]:
        """Counters and histograms (requests by credential and outcome, fallbacks, retries, tokens...)."""
        result: Dict[str, Any] = self._native.metrics()
        return result

    def metrics_prometheus(self) -> str:
        """The metrics as Prometheus text (prefix ``cozefallback_``)."""
        return self._native.metrics_prometheus()

    def set_refresh_hook(self, hook: Optional[Callable[[Dict[str, Any]], None]]) -> None:
        """Called (on a library thread) after an OBO refresh rotated the tokens, with a dict holding
        credential, access_token, refresh_token and expires_at: store the new refresh token."""
        self._native.set_refresh_hook(hook)

    def set_conversation_hook(self, hook: Optional[ConversationHook]) -> None:
        """Calls ``hook(from_, to, messages_copied)`` once per carry-over of a conversation stranded by the move,
        after the mapping is in place and before the chat is sent again: store ``to`` in place of ``from_``
        (the client's map is not persisted; preload it after a restart with :meth:`map_conversation`).

        It runs on a library thread inside the call (keep it short); an exception it raises goes to
        ``sys.unraisablehook`` and the call goes on. None removes it; a non-callable raises TypeError.

        >>> client.set_conversation_hook(lambda old, new, copied: db.save_conversation(old, new))  # doctest: +SKIP
        """
        self._native.set_conversation_hook(hook)

    def on_conversation_moved(self, hook: ConversationHook) -> ConversationHook:
        """:meth:`set_conversation_hook`, usable as a decorator; returns ``hook``.

        >>> @client.on_conversation_moved  # doctest: +SKIP
        ... def moved(from_: str, to: str, messages_copied: int) -> None:
        ...     db.replace_conversation(from_, to)
        """
        self.set_conversation_hook(hook)
        return hook

    def map_conversation(self, from_: str, to: str) -> None:
        """Preloads a mapping the app stored from the hook (after a restart): later chats naming ``from_`` go to
        ``to`` in one round trip, with the credential that reaches it. No I/O. An empty id, or ``to`` equal to
        ``from_``, raises InvalidArgumentError.

        >>> client.map_conversation("7480000000000000001", "7480000000000000002")  # doctest: +SKIP
        """
        _check_id("map_conversation", "from_", from_)
        _check_id("map_conversation", "to", to)
        self._native.map_conversation(from_, to)

    def mapped_conversation(self, from_: str) -> Optional[str]:
        """The conversation chats naming ``from_`` are sent to (after a carry-over or :meth:`map_conversation`),
        else None."""
        _check_id("mapped_conversation", "from_", from_)
        return self._native.mapped_conversation(from_)

    def __repr__(self) -> str:
        if self.closed:
            return f"<{type(self).__name__} closed>"
        return f"<{type(self).__name__} base_url={self.base_url!r} mode={self.mode!r}>"


class Client(_Base):
    """The dual-credential Coze client, blocking. Thread-safe: share one across threads; calls release the GIL.

    >>> client = Client({"base_url": "https://api.coze.cn",
    ...                  "personal": {"type": "pat", "token": "pat_old"},
    ...                  "enterprise": {"type": "pat", "token": "pat_new"}})  # doctest: +SKIP
    >>> client.get("/v1/bots/7350000000000000001").credential  # doctest: +SKIP
    'enterprise'
    """

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Query] = None,
        json: Any = None,
        data: Optional[Data] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        """Sends a request through the fallback. Coze errors raise ApiError (and friends)."""
        response: Response = self._native.request(method, path, **_args(query, json, data, headers, timeout))
        return response

    def get(
        self, path: str, *, query: Optional[Query] = None, headers: Optional[Headers] = None, timeout: Optional[float] = None
    ) -> Response:
        return self.request("GET", path, query=query, headers=headers, timeout=timeout)

    def post(
        self,
        path: str,
        *,
        query: Optional[Query] = None,
        json: Any = None,
        data: Optional[Data] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        return self.request("POST", path, query=query, json=json, data=data, headers=headers, timeout=timeout)

    def upload(
        self,
        path: str,
        file: FileInput,
        *,
        filename: Optional[str] = None,
        query: Optional[Query] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        """Uploads one file as multipart/form-data (one part named ``file``), replayed as is on fallback.
        ``file`` is a filesystem path, bytes or a file object."""
        name, content = _read_file(file, filename)
        args = _args(query, None, None, headers, timeout)
        response: Response = self._native.request("POST", path, file=(name, content), **args)
        return response

    def stream(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Query] = None,
        json: Any = None,
        data: Optional[Data] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
    ) -> EventStream:
        """Opens a server-sent event stream: iterate it for events; use it in ``with`` to close it."""
        native: _native.NativeStream = self._native.request(
            method, path, stream=True, **_args(query, json, data, headers, timeout)
        )
        return EventStream(native)

    def websocket(self, path: str, query: Optional[Query] = None) -> WebSocketSession:
        """Opens a realtime session (``/v1/chat``, ``/v1/audio/speech``, ``/v1/audio/transcriptions``) on the
        WebSocket base, with the credential fallback; ``bot_id`` / ``workflow_id`` in ``query`` pick the sticky
        route. A handshake refused with a fallback code is retried with the other credential here."""
        native: _native.NativeWebSocket = self._native.websocket(path, query=_query(query))
        return WebSocketSession(native)

    def fetch_token(self, credential: str) -> None:
        """Mints (or checks) one credential's token now ("personal" or "enterprise"): a preflight check."""
        self._native.fetch_token(credential)

    def close(self) -> None:
        """Cancels the calls in flight (they raise CancelledError at once), closes the client's connections and
        returns without waiting; later calls raise InvalidArgumentError. Idempotent."""
        self._native.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()


class AsyncEventStream:
    """An asyncio event stream: ``async for event in client.stream(...)``, ``async with``, or ``await`` it to
    open it (and see fallback errors) before reading."""

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._opener = opener
        self._native: Optional[_native.NativeStream] = None
        self._done = False

    async def _open(self) -> "AsyncEventStream":
        if self._native is None:
            self._native = await self._opener()
        return self

    def __await__(self) -> Any:
        return self._open().__await__()

    def _opened(self) -> _native.NativeStream:
        if self._native is None:
            raise RuntimeError("the stream is not open yet: await it, or use `async with` / `async for`")
        return self._native

    @property
    def status(self) -> int:
        return self._opened().status

    @property
    def headers(self) -> Dict[str, str]:
        return self._opened().headers

    @property
    def credential(self) -> str:
        return self._opened().credential

    @property
    def attempts(self) -> int:
        return self._opened().attempts

    @property
    def logid(self) -> Optional[str]:
        return self._opened().logid

    @property
    def conversation_moved(self) -> Optional[ConversationMoved]:
        """As :attr:`EventStream.conversation_moved`, once the stream is open (before its first event)."""
        moved: Optional[ConversationMoved] = self._opened().conversation_moved
        return moved

    def __aiter__(self) -> "AsyncEventStream":
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        try:
            await self._open()
            native = self._opened()
            event: Optional[Event] = await _aio.call(native.next)
        except BaseException:
            self._done = True
            if self._native is not None:
                self._native.close()
            raise
        if event is None:
            self._done = True
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        """Closes the stream and its connection. Idempotent."""
        self._done = True
        if self._native is not None:
            self._native.close()

    async def __aenter__(self) -> "AsyncEventStream":
        return await self._open()

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()


class AsyncClient(_Base):
    """The same client for asyncio: every call is awaitable; the work runs on the library's runtime threads."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Query] = None,
        json: Any = None,
        data: Optional[Data] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        response: Response = await _aio.call(
            self._native.request, method, path, **_args(query, json, data, headers, timeout)
        )
        return response

    async def get(
        self, path: str, *, query: Optional[Query] = None, headers: Optional[Headers] = None, timeout: Optional[float] = None
    ) -> Response:
        return await self.request("GET", path, query=query, headers=headers, timeout=timeout)

    async def post(
        self,
        path: str,
        *,
        query: Optional[Query] = None,
        json: Any = None,
        data: Optional[Data] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        return await self.request("POST", path, query=query, json=json, data=data, headers=headers, timeout=timeout)

    async def upload(
        self,
        path: str,
        file: FileInput,
        *,
        filename: Optional[str] = None,
        query: Optional[Query] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        if isinstance(file, (str, os.PathLike)):
            name, content = await asyncio.get_running_loop().run_in_executor(None, _read_file, file, filename)
        else:
            name, content = _read_file(file, filename)
        args = _args(query, None, None, headers, timeout)
        response: Response = await _aio.call(self._native.request, "POST", path, file=(name, content), **args)
        return response

    def stream(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Query] = None,
        json: Any = None,
        data: Optional[Data] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
    ) -> AsyncEventStream:
        args = _args(query, json, data, headers, timeout)
        native = self._native

        async def opener() -> _native.NativeStream:
            stream: _native.NativeStream = await _aio.call(native.request, method, path, stream=True, **args)
            return stream

        return AsyncEventStream(opener)

    def websocket(self, path: str, query: Optional[Query] = None) -> AsyncWebSocketSession:
        """Opens a realtime session as :meth:`Client.websocket` does: ``async with``, ``async for`` or ``await``
        the result (the handshake happens then)."""
        native = self._native
        pairs = _query(query)

        async def opener() -> _native.NativeWebSocket:
            session: _native.NativeWebSocket = await _aio.call(native.websocket, path, query=pairs)
            return session

        return AsyncWebSocketSession(opener)

    async def fetch_token(self, credential: str) -> None:
        await _aio.call(self._native.fetch_token, credential)

    async def close(self) -> None:
        """Cancels the calls in flight (they raise CancelledError at once) and closes the client; later calls raise
        InvalidArgumentError. Idempotent."""
        self._native.close()

    async def aclose(self) -> None:
        """The same as :meth:`close`."""
        self._native.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self._native.close()

