"""The config document as TypedDicts, mirroring ``core/config.schema.json`` (``tests/test_config_schema.py``
fails when they drift apart). A plain dict or a JSON string works as well; the core refuses unknown fields.

    config: ConfigDict = {
        "base_url": "https://api.coze.cn",
        "personal": {"type": "pat", "token": "pat_old"},
        "enterprise": {"type": "jwt", "client_id": "11", "public_key_id": "kid", "private_key_file": "key.pem"},
        "conversations": {"on_stranded": "carry_over", "carry_over_messages": 20},
    }
"""

from __future__ import annotations

from typing import Any, List, Literal, TypedDict, Union

__all__ = [
    "ConfigDict",
    "Credential",
    "PatCredential",
    "JwtCredential",
    "OAuthCredential",
    "FallbackConfig",
    "RetryConfig",
    "TimeoutConfig",
    "TlsConfig",
    "ConversationsConfig",
    "StateConfig",
]

ModeName = Literal["personal_first", "enterprise_first", "personal_only", "enterprise_only"]


class _PatRequired(TypedDict):
    type: Literal["pat"]
    token: str


class PatCredential(_PatRequired, total=False):
    """A personal access token (``pat_...``), used as is."""


class _JwtRequired(TypedDict):
    type: Literal["jwt"]
    client_id: str
    public_key_id: str


class JwtCredential(_JwtRequired, total=False):
    """A JWT (service) OAuth app: ``private_key`` (PEM text) or ``private_key_file``, and one mint target."""

    private_key: str
    private_key_file: str
    account_id: Union[str, int]
    enterprise_id: Union[str, int]
    session_name: str
    ttl_secs: int
    scope: Any


class _OAuthRequired(TypedDict):
    type: Literal["oauth"]
    client_id: str
    access_token: str


class OAuthCredential(_OAuthRequired, total=False):
    """An OBO user token (from the code, PKCE or device flow) with its refresh token."""

    client_secret: str
    refresh_token: str
    expires_at: int
    redirect_uri: str


Credential = Union[PatCredential, JwtCredential, OAuthCredential]
"""One credential, told apart by ``type``."""


class FallbackConfig(TypedDict, total=False):
    """What makes a request switch credential (defaults: codes 4100, 4101; sticky for 3600 s)."""

    codes: List[int]
    not_found_codes: List[int]
    sticky_ttl_secs: int
    sticky: bool


class RetryConfig(TypedDict, total=False):
    """Retries of transient failures (default 2 per credential attempt, at most 10)."""

    max_retries: int
    non_idempotent: bool
    base_delay_ms: int
    max_delay_ms: int
    budget_per_10_requests: int


class TimeoutConfig(TypedDict, total=False):
    """Per-attempt and overall time limits, in milliseconds."""

    connect_ms: int
    first_byte_ms: int
    idle_ms: int
    total_ms: int


class TlsConfig(TypedDict, total=False):
    """Extra trusted CA certificates (a PEM file), added to the system's."""

    ca_file: str


class ConversationsConfig(TypedDict, total=False):
    """What a chat naming a conversation stranded by the move does (``carry_over`` by default, 20 messages)."""

    on_stranded: Literal["carry_over", "new", "error"]
    carry_over_messages: int


class StateConfig(TypedDict, total=False):
    """The Redis store a fleet of clients shares routes through (the URL's password is never logged)."""

    redis_url: str
    key_prefix: str
    share_tokens: bool


class ConfigDict(TypedDict, total=False):
    """The whole config document; every section is optional, but one credential must be set."""

    base_url: str
    personal: Credential
    enterprise: Credential
    mode: ModeName
    fallback: FallbackConfig
    retry: RetryConfig
    timeouts: TimeoutConfig
    tls: TlsConfig
    allow_insecure_http: bool
    conversations: ConversationsConfig
    state: StateConfig
    max_request_bytes: int
    # Deprecated: the old name of max_request_bytes; set only one of them.
    max_body_bytes: int
    max_event_bytes: int
    max_response_bytes: int
    ws_base_url: str
