"""Exceptions raised by cozefallback. Every one derives from :class:`CozeError` and pickles."""

from __future__ import annotations

import builtins
from typing import List, Any, Dict, Optional, Tuple, Type

__all__ = [
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
]


class CozeError(Exception):
    """Base class of every cozefallback error.

    The attributes are the keys of the core's JSON form of the error (docs/FORMS.md), same names; ``None`` when
    they do not apply:
      kind: the scenario kind name ("config", "api", "auth", "reauth_required", "transport", "timeout",
        "stream_interrupted", "cancelled", "conversation_stranded", "invalid_argument", "internal").
      message: the full, redacted description (also ``str(err)``).
      coze_message: Coze's own message (``msg`` of the answer), or None.
      msg: the cozepy-style alias: ``coze_message`` when there is one, else the core's description.
      response: for ApiError/AuthError, the failed answer as ``(status, [(header, value)], body)``.
      code: the Coze business code; http_status; logid (for support tickets); credential ("personal" or
      "enterprise", of the failing attempt); attempts (HTTP attempts made); previous (the first credential's
      error when both failed); authorize_url (ReauthRequiredError); oauth_error (AuthError); field
      (ConfigError: the offending field); events_delivered (StreamInterruptedError); conversation_id,
      file_id, conversation_owner and bot_credential (ConversationStrandedError).
    """

    kind: str = "internal"

    def __init__(
        self,
        message: str = "",
        *,
        kind: Optional[str] = None,
        msg: Optional[str] = None,
        field: Optional[str] = None,
        code: Optional[int] = None,
        coze_message: Optional[str] = None,
        http_status: Optional[int] = None,
        logid: Optional[str] = None,
        credential: Optional[str] = None,
        attempts: int = 0,
        authorize_url: Optional[str] = None,
        oauth_error: Optional[str] = None,
        events_delivered: int = 0,
        previous: Optional["CozeError"] = None,
        response: Optional[Tuple[int, List[Tuple[str, str]], bytes]] = None,
        conversation_id: Optional[str] = None,
        file_id: Optional[str] = None,
        conversation_owner: Optional[str] = None,
        bot_credential: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.msg = msg if msg is not None else message
        self.field = field
        self.code = code
        self.coze_message = coze_message
        self.http_status = http_status
        self.logid = logid
        self.credential = credential
        self.attempts = attempts
        self.authorize_url = authorize_url
        self.oauth_error = oauth_error
        self.events_delivered = events_delivered
        self.previous = previous
        self.response = response
        self.conversation_id = conversation_id
        self.file_id = file_id
        self.conversation_owner = conversation_owner
        self.bot_credential = bot_credential

    def _state(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "msg": self.msg,
            "field": self.field,
            "code": self.code,
            "coze_message": self.coze_message,
            "http_status": self.http_status,
            "logid": self.logid,
            "credential": self.credential,
            "attempts": self.attempts,
            "authorize_url": self.authorize_url,
            "oauth_error": self.oauth_error,
            "events_delivered": self.events_delivered,
            "previous": self.previous,
            "response": self.response,
            "conversation_id": self.conversation_id,
            "file_id": self.file_id,
            "conversation_owner": self.conversation_owner,
            "bot_credential": self.bot_credential,
        }

    def __reduce__(self) -> Tuple[Any, ...]:  # type: ignore[override]
        return (_rebuild, (type(self), self.message, self._state()))

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={v!r}"
            for k, v in (
                ("code", self.code),
                ("credential", self.credential),
                ("logid", self.logid),
                ("conversation_id", self.conversation_id),
                ("file_id", self.file_id),
            )
            if v is not None
        )
        return f"{type(self).__name__}({self.message!r}{extra})"


def _rebuild(cls: Type[CozeError], message: str, state: Dict[str, Any]) -> CozeError:
    return cls(message, **state)


class ConfigError(CozeError, ValueError):
    """The configuration is invalid; ``field`` names the offending field."""

    kind = "config"


class InvalidArgumentError(CozeError, ValueError):
    """An argument was malformed: a bad method, header or path; a ``json=`` body value JSON cannot hold (the
    message names where, ``json["a"][1]``); a number out of range (``timeout=-1``, ``timeout=1e30``, NaN; a
    device code's ``expires_in``/``interval``); a credential name other than "personal" or "enterprise"; or the
    client is closed. Also a builtin ``ValueError``."""

    kind = "invalid_argument"


class ApiError(CozeError):
    """Coze answered with a business error (``code``) or an HTTP error status (``http_status``)."""

    kind = "api"


class AuthError(CozeError):
    """An OAuth endpoint refused (``oauth_error``: invalid_client, invalid_grant, authorization_pending...)."""

    kind = "auth"


class ReauthRequiredError(AuthError):
    """An OBO user's token was rejected even after a refresh: send the user to ``authorize_url``."""

    kind = "reauth_required"


class TransportError(CozeError):
    """The connection failed (connect, reset, TLS, DNS) or the answer was unreadable."""

    kind = "transport"


class TimeoutError(CozeError, builtins.TimeoutError):
    """A timeout fired (connect, first byte, idle stream, overall deadline). Also a builtin ``TimeoutError``."""

    kind = "timeout"


class StreamInterruptedError(CozeError):
    """A stream broke after ``events_delivered`` events had reached the caller; nothing was replayed."""

    kind = "stream_interrupted"


class CancelledError(CozeError):
    """The call was cancelled."""

    kind = "cancelled"


class ConversationStrandedError(CozeError):
    """A chat names a conversation (or a file) the move stranded, and it was not carried over: with
    ``conversations.on_stranded: "error"``, or for a file (files are never carried over).

    ``conversation_id`` (or ``file_id``) names it; ``conversation_owner`` is the credential that owns it and
    ``bot_credential`` the one that reaches the bot now ("personal" or "enterprise"); ``previous`` holds the API
    error the chat failed with; the message says what to do.

    >>> try:
    ...     client.post("/v3/chat", query={"conversation_id": old_id}, json=body)  # doctest: +SKIP
    ... except ConversationStrandedError as e:
    ...     print(e.conversation_id, e.conversation_owner, "->", e.bot_credential)
    """

    kind = "conversation_stranded"


_CLASSES: Dict[str, Type[CozeError]] = {
    "config": ConfigError,
    "invalid_argument": InvalidArgumentError,
    "api": ApiError,
    "auth": AuthError,
    "reauth_required": ReauthRequiredError,
    "transport": TransportError,
    "timeout": TimeoutError,
    "stream_interrupted": StreamInterruptedError,
    "cancelled": CancelledError,
    "conversation_stranded": ConversationStrandedError,
}


def _from_native(info: Dict[str, Any]) -> CozeError:
    """Called by the native module to build the exception for a core error: ``info`` is the core's JSON form
    (every key of docs/FORMS.md becomes the attribute of the same name; ``previous`` is already an exception,
    ``response`` a ``(status, headers, body)`` tuple) plus ``msg``."""
    attrs = dict(info)
    kind = attrs.pop("kind")
    message = attrs.pop("message")
    cls = _CLASSES.get(kind, CozeError)
    return cls(message, kind=kind, **attrs)
