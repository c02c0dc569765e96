"""OAuth helpers for OBO (user) credentials: authorize URL with PKCE, code exchange, refresh, device flow."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Union

from . import _aio, _native

__all__ = ["OAuthApp", "AsyncOAuthApp", "OAuthToken", "DeviceCode", "AuthorizeUrl"]


@dataclass(frozen=True)
class OAuthToken:
    """Tokens from an OAuth exchange. Store ``refresh_token``: it rotates on every refresh."""

    access_token: str = field(repr=False)
    refresh_token: Optional[str] = field(repr=False)
    expires_at: int
    """Unix time at which the access token expires."""

    def oauth_config(self, client_id: str, client_secret: Optional[str] = None) -> Dict[str, Any]:
        """This token as an ``oauth`` credential for a client config."""
        cfg: Dict[str, Any] = {"type": "oauth", "client_id": client_id, "access_token": self.access_token}
        if self.refresh_token:
            cfg["refresh_token"] = self.refresh_token
        if client_secret:
            cfg["client_secret"] = client_secret
        cfg["expires_at"] = self.expires_at
        return cfg


@dataclass(frozen=True)
class DeviceCode:
    """The answer of a device-flow start: show ``user_code`` and ``verification_uri`` to the user."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int = 5


@dataclass(frozen=True)
class AuthorizeUrl:
    """Where to send the user's browser, the ``state`` to check on the redirect, and (PKCE) the verifier to
    pass to :meth:`OAuthApp.exchange_code`."""

    url: str
    state: str
    code_verifier: Optional[str] = field(default=None, repr=False)


def _token(d: Dict[str, Any]) -> OAuthToken:
    return OAuthToken(access_token=d["access_token"], refresh_token=d["refresh_token"], expires_at=d["expires_at"])


def _device(d: Dict[str, Any]) -> DeviceCode:
    return DeviceCode(**d)


class _AppBase:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: Optional[str] = None,
        *,
        allow_insecure_http: bool = False,
        ca_file: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> None:
        """An OAuth app on ``base_url`` (e.g. https://api.coze.cn). ``client_secret`` only for web apps;
        ``allow_insecure_http`` permits ``http://`` to a non-loopback host; ``ca_file`` (a PEM file of CA
        certificates) is trusted besides the system's roots, as a client's ``tls.ca_file``."""
        self._native = _native.NativeOAuthApp(
            base_url, client_id, client_secret, allow_insecure_http=allow_insecure_http, ca_file=ca_file
        )

    def authorize_url(self, redirect_uri: str, *, workspace_id: Optional[str] = None, pkce: bool = True) -> AuthorizeUrl:
        """The authorize URL with a random state and, with ``pkce``, an S256 code challenge."""
        url, state, verifier = self._native.authorize_url(redirect_uri, workspace_id, pkce)
        return AuthorizeUrl(url=url, state=state, code_verifier=verifier)


class OAuthApp(_AppBase):
    """Blocking OAuth helpers. Errors raise AuthError (``oauth_error`` says why)."""

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: Optional[str] = None) -> OAuthToken:
        return _token(self._native.exchange_code(code, redirect_uri, code_verifier))

    def refresh(self, refresh_token: str) -> OAuthToken:
        return _token(self._native.refresh(refresh_token))

    def device_code(self, workspace_id: Optional[str] = None) -> DeviceCode:
        return _device(self._native.device_code(workspace_id))

    def poll_device_token(self, device_code: str) -> OAuthToken:
        """Polls once. AuthError with oauth_error "authorization_pending" or "slow_down" means: ask again later."""
        return _token(self._native.poll_device_token(device_code))

    def wait_device_token(self, code: DeviceCode) -> OAuthToken:
        """Polls at the server's interval until the user approves, denies, or the code expires."""
        return _token(
            self._native.wait_device_token(code.device_code, code.user_code, code.verification_uri, code.expires_in, code.interval)
        )


class AsyncOAuthApp(_AppBase):
    """The same helpers for asyncio."""

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: Optional[str] = None) -> OAuthToken:
        return _token(await _aio.call(self._native.exchange_code, code, redirect_uri, code_verifier))

    async def refresh(self, refresh_token: str) -> OAuthToken:
        return _token(await _aio.call(self._native.refresh, refresh_token))

    async def device_code(self, workspace_id: Optional[str] = None) -> DeviceCode:
        return _device(await _aio.call(self._native.device_code, workspace_id))

    async def poll_device_token(self, device_code: str) -> OAuthToken:
        return _token(await _aio.call(self._native.poll_device_token, device_code))

    async def wait_device_token(self, code: DeviceCode) -> OAuthToken:
        return _token(
            await _aio.call(
                self._native.wait_device_token,
                code.device_code,
                code.user_code,
                code.verification_uri,
                code.expires_in,
                code.interval,
            )
        )
