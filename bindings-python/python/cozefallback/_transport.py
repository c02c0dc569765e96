"""httpx transports that route every request of an httpx-based SDK (cozepy) through the fallback client.

    import cozepy, httpx, cozefallback
    client = cozefallback.Client(config)
    coze = cozepy.Coze(auth=cozepy.TokenAuth("unused"), base_url=client.base_url,
                       http_client=httpx.Client(transport=cozefallback.HTTPTransport(client)))

The transport sets the Authorization header (whatever the SDK put there is dropped) and picks the credential;
the SDK keeps its typed API. Event streams are handed over as they arrive, as SSE text framed by the core
(``NativeStream.next_sse``, the core's ``Event::to_sse``). The httpx response's ``extensions`` hold
``cozefallback_credential``, ``cozefallback_attempts`` and ``cozefallback_conversation_moved`` (a
ConversationMoved when a stranded conversation was carried over, else None; the client's
``on_conversation_moved`` hook runs as well).

When neither credential can serve a call, the SDK gets the last failed answer as the server sent it, so its own
error handling (cozepy's ``CozeAPIError`` with ``code`` and ``logid``) keeps working. Failures without an
answer (transport, timeout, config) raise the cozefallback exception.
"""

from __future__ import annotations

from typing import AsyncIterator, Iterator, List, Optional, Tuple, Union

import httpx

from . import _aio, _native
from ._client import AsyncClient, Client
from ._errors import CozeError

__all__ = ["HTTPTransport", "AsyncHTTPTransport"]

# Hop-by-hop and client-owned headers; the core sets its own. Accept-Encoding is dropped so that bodies arrive
# uncompressed (the core hands over bytes as received).
_SKIP_REQUEST = {"authorization", "host", "content-length", "transfer-encoding", "connection", "accept-encoding"}
_SKIP_RESPONSE = {"content-length", "transfer-encoding", "content-encoding", "connection"}


def _request_args(request: httpx.Request, body: bytes) -> Tuple[str, str, dict]:  # type: ignore[type-arg]
    path = request.url.raw_path.decode("ascii")
    headers: List[Tuple[str, str]] = [
        (k, v) for k, v in request.headers.multi_items() if k.lower() not in _SKIP_REQUEST
    ]
    return request.method, path, {"headers": headers or None, "data": body or None, "auto": True}


def _response_headers(pairs: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    return [(k, v) for k, v in pairs if k.lower() not in _SKIP_RESPONSE]


class _EventBytes(httpx.SyncByteStream):
    def __init__(self, native: _native.NativeStream) -> None:
        self._native = native

    def __iter__(self) -> Iterator[bytes]:
        while True:
            frame: Optional[bytes] = self._native.next_sse()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        self._native.close()


class _AsyncEventBytes(httpx.AsyncByteStream):
    def __init__(self, native: _native.NativeStream) -> None:
        self._native = native

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            frame: Optional[bytes] = await _aio.call(self._native.next_sse)
            if frame is None:
                return
            yield frame

    async def aclose(self) -> None:
        self._native.close()


def _to_httpx(result: Union[_native.Response, _native.NativeStream], request: httpx.Request, is_async: bool) -> httpx.Response:
    ext = {
        "cozefallback_credential": result.credential,
        "cozefallback_attempts": result.attempts,
        "cozefallback_conversation_moved": result.conversation_moved,
    }
    if isinstance(result, _native.NativeStream):
        headers = _response_headers(list(result.headers.items()))
        stream: Union[httpx.SyncByteStream, httpx.AsyncByteStream] = (
            _AsyncEventBytes(result) if is_async else _EventBytes(result)
        )
        return httpx.Response(result.status, headers=headers, stream=stream, request=request, extensions=ext)
    return httpx.Response(
        result.status,
        headers=_response_headers(result.header_list),
        content=result.content,
        request=request,
        extensions=ext,
    )


def _failed_answer(err: CozeError, request: httpx.Request) -> httpx.Response:
    """The failed answer the SDK would have seen without the fallback; re-raises when there was none."""
    if err.response is None:
        raise err
    status, headers, body = err.response
    ext = {"cozefallback_credential": err.credential, "cozefallback_attempts": err.attempts}
    return httpx.Response(status, headers=_response_headers(headers), content=body, request=request, extensions=ext)


class HTTPTransport(httpx.BaseTransport):
    """A synchronous httpx transport over a cozefallback client (``Client`` or ``AsyncClient``)."""

    def __init__(self, client: Union[Client, AsyncClient]) -> None:
        self._native = client._native

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        method, path, kwargs = _request_args(request, request.read())
        try:
            result = self._native.request(method, path, **kwargs)
        except CozeError as err:
            return _failed_answer(err, request)
        return _to_httpx(result, request, is_async=False)


class AsyncHTTPTransport(httpx.AsyncBaseTransport):
    """An asyncio httpx transport over a cozefallback client (``AsyncClient`` or ``Client``)."""

    def __init__(self, client: Union[Client, AsyncClient]) -> None:
        self._native = client._native

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        method, path, kwargs = _request_args(request, body)
        try:
            result = await _aio.call(self._native.request, method, path, **kwargs)
        except CozeError as err:
            return _failed_answer(err, request)
        return _to_httpx(result, request, is_async=True)
