"""Type stubs for the native module ``cozefallback._native`` (PyO3). Use the wrappers in ``cozefallback``."""

import asyncio
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union, final

__version__: str

_Aio = Optional[Tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]]

@final
class Response:
    """A successful answer."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Dict[str, str]:
        """Lower-case names; repeated headers joined with ", "."""
    @property
    def header_list(self) -> List[Tuple[str, str]]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    @property
    def credential(self) -> str:
        """"personal" or "enterprise": the credential that served it."""
    @property
    def attempts(self) -> int:
        """HTTP attempts, fallback and retries included."""
    @property
    def logid(self) -> Optional[str]: ...
    def json(self) -> Any: ...

@final
class Event:
    """One server-sent event."""

    def __init__(self, event: str, data: str, id: Optional[str] = None) -> None: ...
    @property
    def event(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def id(self) -> Optional[str]: ...
    def json(self) -> Any: ...

@final
class Pending:
    def cancel(self) -> None: ...
    def done(self) -> bool: ...

@final
class NativeStream:
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Dict[str, str]: ...
    @property
    def credential(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def logid(self) -> Optional[str]: ...
    def next(self, aio: _Aio = None) -> Any: ...
    def close(self) -> None: ...

@final
class NativeClient:
    def __init__(self, config: Union[str, Mapping[str, Any]]) -> None: ...
    @staticmethod
    def from_env() -> "NativeClient": ...
    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[List[Tuple[str, str]]] = None,
        headers: Optional[List[Tuple[str, str]]] = None,
        json: Any = None,
        data: Optional[bytes] = None,
        file: Optional[Tuple[str, bytes]] = None,
        timeout: Optional[float] = None,
        stream: bool = False,
        auto: bool = False,
        aio: _Aio = None,
    ) -> Any: ...
    def fetch_token(self, credential: str, *, aio: _Aio = None) -> Any: ...
    def set_mode(self, mode: str) -> None: ...
    @property
    def mode(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def metrics(self) -> Dict[str, Any]: ...
    def metrics_prometheus(self) -> str: ...
    def set_refresh_hook(self, hook: Optional[Callable[[Dict[str, Any]], None]]) -> None: ...
    def close(self) -> None: ...

@final
class NativeOAuthApp:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: Optional[str] = None,
        *,
        allow_insecure_http: bool = False,
        ca_file: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> None: ...
    def authorize_url(
        self, redirect_uri: str, workspace_id: Optional[str] = None, pkce: bool = True
    ) -> Tuple[str, str, Optional[str]]: ...
    def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: Optional[str] = None, *, aio: _Aio = None
    ) -> Any: ...
    def refresh(self, refresh_token: str, *, aio: _Aio = None) -> Any: ...
    def device_code(self, workspace_id: Optional[str] = None, *, aio: _Aio = None) -> Any: ...
    def poll_device_token(self, device_code: str, *, aio: _Aio = None) -> Any: ...
    def wait_device_token(
        self,
        device_code: str,
        user_code: str,
        verification_uri: str,
        expires_in: int,
        interval: int,
        *,
        aio: _Aio = None,
    ) -> Any: ...

def _refresh_log_level() -> None: ...
def _shutdown() -> None: ...
def redact(text: str) -> str:
    """Redacts secrets (tokens, keys) from a text, as the core does for its messages."""

