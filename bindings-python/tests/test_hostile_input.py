"""Input a program should never pass, and must never crash on: every number that reaches the core is range-checked
and refused as InvalidArgumentError (a CozeError and a ValueError), a config value JSON cannot hold is a
ConfigError naming its dotted path, and nothing raises pyo3's PanicException (a BaseException)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List

import pytest

import cozefallback
from conftest import Mock

# 2**63 and 10**400 beside the list: an int past i64, and an int past what a float can hold.
HOSTILE_NUMBERS: List[Any] = [0, -1, math.nan, math.inf, -math.inf, 1e30, 2**64, 2**63, 10**400, -(2**64)]
NOT_NUMBERS: List[Any] = ["5", True, b"5"]


def refused(err: BaseException, name: str) -> None:
    assert isinstance(err, cozefallback.InvalidArgumentError), repr(err)
    assert isinstance(err, cozefallback.CozeError) and isinstance(err, ValueError)
    assert err.kind == "invalid_argument"
    assert str(err).startswith(f"{name} must be"), str(err)


def sync_calls(client: cozefallback.Client, mock: Mock) -> Dict[str, Callable[[Any], Any]]:
    bot = f"/v1/bots/{mock.bot}"
    return {
        "request": lambda t: client.request("GET", bot, timeout=t),
        "get": lambda t: client.get(bot, timeout=t),
        "post": lambda t: client.post("/v3/chat", json=mock.chat_body(), timeout=t),
        "upload": lambda t: client.upload("/v1/files/upload", b"x", timeout=t),
        "stream": lambda t: list(client.stream("POST", "/v3/chat", json=mock.chat_body(True), timeout=t)),
    }


@pytest.mark.parametrize("value", HOSTILE_NUMBERS + NOT_NUMBERS, ids=repr)
def test_every_sync_timeout_refuses_hostile_numbers(mock: Mock, value: Any) -> None:
    with cozefallback.Client(mock.pat_config()) as client:
        for name, call in sync_calls(client, mock).items():
            try:
                call(value)
            except BaseException as err:  # a PanicException is a BaseException: catch it to report it
                refused(err, "timeout")
            else:
                pytest.fail(f"{name}(timeout={value!r}) was accepted")
        assert mock.stats()["requests"]["total"] == 0, "a refused call must not reach the server"


@pytest.mark.parametrize("value", HOSTILE_NUMBERS + NOT_NUMBERS, ids=repr)
def test_every_async_timeout_refuses_hostile_numbers(mock: Mock, value: Any) -> None:
    async def run() -> None:
        async with cozefallback.AsyncClient(mock.pat_config()) as client:
            bot = f"/v1/bots/{mock.bot}"

            async def read_stream(t: Any) -> None:
                async for _ in client.stream("POST", "/v3/chat", json=mock.chat_body(True), timeout=t):
                    pass

            calls: Dict[str, Callable[[Any], Awaitable[Any]]] = {
                "request": lambda t: client.request("GET", bot, timeout=t),
                "get": lambda t: client.get(bot, timeout=t),
                "post": lambda t: client.post("/v3/chat", json=mock.chat_body(), timeout=t),
                "upload": lambda t: client.upload("/v1/files/upload", b"x", timeout=t),
                "stream": read_stream,
            }
            for name, call in calls.items():
                try:
                    await call(value)
                except BaseException as err:
                    refused(err, "timeout")
                else:
                    pytest.fail(f"{name}(timeout={value!r}) was accepted")

    asyncio.run(run())


def test_timeouts_in_range_still_work(mock: Mock) -> None:
    with cozefallback.Client(mock.pat_config()) as client:
        for good in (0.5, 1, 86_400, 2.5e4):
            assert client.get(f"/v1/bots/{mock.bot}", timeout=good).status == 200


@pytest.mark.parametrize("field", ["expires_in", "interval"])
@pytest.mark.parametrize("value", HOSTILE_NUMBERS + NOT_NUMBERS + [1.5], ids=repr)
def test_device_code_numbers_are_range_checked(mock: Mock, field: str, value: Any) -> None:
    numbers = {"expires_in": 600, "interval": 1, field: value}
    code = cozefallback.DeviceCode("dc", "uc", "https://example.com/device", **numbers)
    app = cozefallback.OAuthApp(mock.base_url, mock.info["oauth_client_id"])
    try:
        app.wait_device_token(code)
    except BaseException as err:
        refused(err, field)
    else:
        pytest.fail(f"{field}={value!r} was accepted")

    async def run() -> None:
        aapp = cozefallback.AsyncOAuthApp(mock.base_url, mock.info["oauth_client_id"])
        await aapp.wait_device_token(code)

    with pytest.raises(cozefallback.InvalidArgumentError, match=f"^{field} must be"):
        asyncio.run(run())
    assert mock.stats()["requests"]["total"] == 0


def test_unknown_credential_name_is_an_invalid_argument(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    with pytest.raises(cozefallback.InvalidArgumentError, match='unknown credential "x"') as info:
        client.fetch_token("x")
    assert isinstance(info.value, ValueError)

    async def run() -> None:
        async with cozefallback.AsyncClient(mock.pat_config()) as aclient:
            await aclient.fetch_token("Personal")

    with pytest.raises(cozefallback.InvalidArgumentError, match='unknown credential "Personal"'):
        asyncio.run(run())


NOT_JSON: List[Any] = [b"pat_x", bytearray(b"x"), {"a", "b"}, frozenset(), 2**63, 2**64, -(2**63) - 1, 10**400,
                       object(), math.nan, math.inf, 1j]


def with_value(mock: Mock, path: str, value: Any) -> Dict[str, Any]:
    """mock.pat_config() with `value` put at a dotted path (`fallback.codes[1]`)."""
    cfg = mock.pat_config()
    cfg["fallback"] = {"codes": [4100, 4101]}
    node: Any = cfg
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return cfg


@pytest.mark.parametrize("path", ["personal.token", "retry.max_retries", "timeouts.total_ms", "fallback.codes[1]"])
@pytest.mark.parametrize("value", NOT_JSON, ids=repr)
def test_config_values_json_cannot_hold_name_their_field(mock: Mock, path: str, value: Any) -> None:
    try:
        cozefallback.Client(with_value(mock, path, value))
    except BaseException as err:
        assert isinstance(err, cozefallback.ConfigError), repr(err)
        assert err.field == path, (err.field, str(err))
        assert f"`{path}`" in str(err) and "expected" in str(err), str(err)
    else:
        pytest.fail(f"{path}={value!r} was accepted")


def test_config_numbers_past_the_core_bounds_name_their_field(mock: Mock) -> None:
    text = '{"base_url": "%s", "personal": {"type": "pat", "token": "pat_x"}, "timeouts": {"total_ms": %d}}'
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.Client(text % (mock.base_url, 2**64 - 1))
    assert info.value.field == "timeouts.total_ms" and "at most" in str(info.value)
    oauth = {"type": "oauth", "client_id": "1", "access_token": "czu_abcdef", "expires_at": 2**62}
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.Client({"base_url": mock.base_url, "personal": oauth})
    assert info.value.field == "personal.expires_at", str(info.value)


def test_a_token_used_as_a_key_is_masked_in_the_field(mock: Mock) -> None:
    secret = "pat_Zq8secretSECRET0123456789"
    cfg = mock.pat_config()
    cfg["personal"] = {"type": "pat", "token": mock.info["personal_pat"], secret: b"x"}
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.Client(cfg)
    err = info.value
    assert err.field == "personal.pat_***", err.field
    for shown in (err.field, str(err), repr(err), err.msg):
        assert "Zq8secret" not in shown, shown
    cfg["personal"] = {secret: "x"}
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.Client(cfg)
    assert "Zq8secret" not in f"{info.value.field} {info.value}"


def test_paths_and_mappings_are_still_accepted(mock: Mock) -> None:
    from types import MappingProxyType

    cfg = {
        "base_url": mock.base_url,
        "personal": MappingProxyType({"type": "jwt", "client_id": mock.info["jwt_client_id"],
                                      "private_key_file": Path(mock.info["private_key_file"]),
                                      "public_key_id": mock.info["jwt_kid"], "account_id": mock.info["account_id"]}),
        "fallback": {"codes": (4100, 4101)},
    }
    with cozefallback.Client(cfg) as client:
        assert client.get(f"/v1/bots/{mock.bot}").credential == "personal"


def test_previous_error_carries_its_attempt_count(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    with pytest.raises(cozefallback.ApiError) as info:
        client.get("/v1/bots/7350000000000000777")
    err = info.value
    assert err.attempts == 2
    assert err.previous is not None and err.previous.credential == "personal"
    assert err.previous.attempts == 1


class _Opaque:
    pass


BAD_BODIES: List[Any] = [
    ({"a": {1, 2}}, 'json["a"]', "set"),
    ({"a": [1, b"x"]}, 'json["a"][1]', "bytes"),
    ({"n": 2**64}, 'json["n"]', "integer outside"),
    ([{"x": math.nan}], 'json[0]["x"]', "NaN"),
    ({"o": _Opaque()}, 'json["o"]', "_Opaque"),
    ({(1, 2): "v"}, "json", "key of type tuple"),
]


@pytest.mark.parametrize("body,where,what", BAD_BODIES, ids=[w for _, w, _ in BAD_BODIES])
def test_a_json_body_json_cannot_hold_is_an_invalid_argument(mock: Mock, body: Any, where: str, what: str) -> None:
    """Not a TypeError or a bare ValueError: the library's own error, naming where the value sits."""
    client = cozefallback.Client(mock.pat_config())
    aclient = cozefallback.AsyncClient(mock.pat_config())

    async def via_async() -> None:
        await aclient.post("/v3/chat", json=body)

    calls: Dict[str, Callable[[], Any]] = {
        "post": lambda: client.post("/v3/chat", json=body),
        "stream": lambda: client.stream("POST", "/v3/chat", json=body),
        "async post": lambda: asyncio.run(via_async()),
    }
    for name, call in calls.items():
        with pytest.raises(cozefallback.InvalidArgumentError) as info:
            call()
        err = info.value
        assert isinstance(err, cozefallback.CozeError) and isinstance(err, ValueError), name
        assert err.kind == "invalid_argument", name
        assert where in str(err) and what in str(err), f"{name}: {err}"
    # Keys json.dumps accepts (int, float, bool, None) still go through, as their JSON text.
    client.post("/v3/chat", json={**mock.chat_body(), "meta_data": {1: "a", None: "b", True: "c"}})
    client.close()
