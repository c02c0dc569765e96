"""The Python API beyond the scenarios: GIL release, asyncio concurrency and cancellation, exceptions, streams,
uploads, logging, metrics, OAuth helpers."""

from __future__ import annotations

import asyncio
import builtins
import io
import logging
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, List

import pytest

import cozefallback
from conftest import Mock


def latency(mock: Mock, ms: int, path: str = "/v1/bots") -> None:
    mock.state({"faults": [{"path": path, "action": {"type": "latency", "ms": ms}}]})


# ---------------------------------------------------------------- parallelism


def test_threads_run_in_parallel(mock: Mock) -> None:
    """8 threads each doing a 400 ms request finish in about 1x, not 8x: the GIL is released while waiting."""
    latency(mock, 400)
    client = cozefallback.Client(mock.pat_config())
    client.get(f"/v1/bots/{mock.bot}")  # warm the connection pool
    started = time.monotonic()
    client.get(f"/v1/bots/{mock.bot}")
    single = time.monotonic() - started

    n = 8
    barrier = threading.Barrier(n)
    counter_stop = threading.Event()
    ticks = [0]

    def spin() -> None:  # pure-Python work that needs the GIL the whole time
        while not counter_stop.is_set():
            ticks[0] += 1

    def one(_: int) -> str:
        barrier.wait()
        return client.get(f"/v1/bots/{mock.bot}").credential

    spinner = threading.Thread(target=spin)
    spinner.start()
    started = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        creds = list(pool.map(one, range(n)))
    parallel = time.monotonic() - started
    counter_stop.set()
    spinner.join()
    assert creds == ["personal"] * n
    assert parallel < single * 3, f"{n} threads took {parallel:.2f}s vs {single:.2f}s for one: not parallel"
    assert ticks[0] > 1000, "a Python thread could not run while requests were waiting"


def test_200_concurrent_asyncio_tasks(mock: Mock) -> None:
    latency(mock, 200)

    async def run() -> List[str]:
        async with cozefallback.AsyncClient(mock.pat_config()) as client:
            started = time.monotonic()
            results = await asyncio.gather(*(client.get(f"/v1/bots/{mock.bot}") for _ in range(200)))
            elapsed = time.monotonic() - started
            assert elapsed < 200 * 0.2 / 4, f"200 tasks took {elapsed:.2f}s: not concurrent"
            return [r.credential for r in results]

    assert asyncio.run(run()) == ["personal"] * 200
    assert mock.stats()["requests"]["total"] == 200


def test_cancelling_an_awaiting_task(mock: Mock) -> None:
    mock.state({"faults": [{"path": "/v1/bots", "action": {"type": "hang"}, "times": 1}]})

    async def run() -> None:
        async with cozefallback.AsyncClient(mock.pat_config()) as client:
            task = asyncio.ensure_future(client.get(f"/v1/bots/{mock.bot}"))
            await asyncio.sleep(0.3)
            assert not task.done()
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 1
            # The client still works after the cancellation.
            r = await client.get(f"/v1/bots/{mock.bot}")
            assert r.status == 200

    asyncio.run(run())


def test_cancelling_wait_for_timeout(mock: Mock) -> None:
    mock.state({"faults": [{"path": "/v1/bots", "action": {"type": "hang"}, "times": 1}]})

    async def run() -> None:
        async with cozefallback.AsyncClient(mock.pat_config()) as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.get(f"/v1/bots/{mock.bot}"), 0.3)

    asyncio.run(run())


def test_sync_timeout_raises_timeout_error(mock: Mock) -> None:
    mock.state({"faults": [{"path": "/v1/bots", "action": {"type": "hang"}}]})
    client = cozefallback.Client(mock.pat_config())
    started = time.monotonic()
    with pytest.raises(builtins.TimeoutError) as info:
        client.get(f"/v1/bots/{mock.bot}", timeout=0.3)
    assert isinstance(info.value, cozefallback.TimeoutError)
    assert isinstance(info.value, cozefallback.CozeError)
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- exceptions


ALL_ERRORS = [
    cozefallback.CozeError,
    cozefallback.ConfigError,
    cozefallback.InvalidArgumentError,
    cozefallback.ApiError,
    cozefallback.AuthError,
    cozefallback.ReauthRequiredError,
    cozefallback.TransportError,
    cozefallback.TimeoutError,
    cozefallback.StreamInterruptedError,
    cozefallback.CancelledError,
]


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_exception_pickles_with_its_attributes(cls: type) -> None:
    prev = cozefallback.ApiError("first", code=4100, credential="personal", http_status=401, logid="L1")
    err = cls(
        "boom",
        code=4101,
        http_status=200,
        logid="L2",
        credential="enterprise",
        attempts=2,
        authorize_url="https://www.coze.cn/auth",
        oauth_error="invalid_grant",
        events_delivered=3,
        field="personal.token",
        previous=prev,
    )
    assert isinstance(err, cozefallback.CozeError)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert str(back) == "boom"
    for attr in ("kind", "msg", "code", "http_status", "logid", "credential", "attempts", "authorize_url",
                 "oauth_error", "events_delivered", "field"):
        assert getattr(back, attr) == getattr(err, attr), attr
    assert type(back.previous) is cozefallback.ApiError
    assert back.previous.code == 4100 and back.previous.credential == "personal"


def test_class_hierarchy() -> None:
    assert issubclass(cozefallback.TimeoutError, builtins.TimeoutError)
    assert issubclass(cozefallback.ReauthRequiredError, cozefallback.AuthError)
    assert issubclass(cozefallback.ConfigError, ValueError)
    for cls in ALL_ERRORS:
        assert issubclass(cls, cozefallback.CozeError)


def test_api_error_attributes_both_credentials_fail(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    with pytest.raises(cozefallback.ApiError) as info:
        client.get("/v1/bots/7350000000000000777")
    err = info.value
    assert err.kind == "api" and err.code == 4200 and err.http_status == 200
    assert err.credential == "enterprise" and err.attempts == 2
    assert err.logid and err.logid in str(err)
    assert isinstance(err.previous, cozefallback.ApiError)
    assert err.previous.code == 4200 and err.previous.credential == "personal"
    assert err.msg and err.msg in str(err) and "4200" in str(err)  # msg is Coze's own text
    assert err.response is not None and err.response[0] == 200 and b"4200" in err.response[2]
    back = pickle.loads(pickle.dumps(err))
    assert back.code == 4200 and back.previous is not None and back.previous.credential == "personal"
    assert back.response == err.response


def test_config_error(mock: Mock) -> None:
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.Client({"base_url": mock.base_url, "personal": {"type": "pat", "tokn": "x"}})
    assert info.value.kind == "config" and "tokn" in str(info.value)
    with pytest.raises(cozefallback.ConfigError):
        cozefallback.Client("{not json")
    with pytest.raises(TypeError):
        cozefallback.Client(42)  # type: ignore[arg-type]


def test_auth_error_with_oauth_code(mock: Mock) -> None:
    cfg = mock.pat_config()
    cfg["personal"] = {
        "type": "jwt",
        "client_id": mock.info["jwt_client_id"],
        "private_key_file": mock.info["private_key_file"],
        "public_key_id": "not_the_kid",
        "account_id": mock.info["account_id"],
    }
    cfg["mode"] = "personal_only"
    client = cozefallback.Client(cfg)
    with pytest.raises(cozefallback.AuthError) as info:
        client.get(f"/v1/bots/{mock.bot}")
    assert info.value.kind == "auth" and info.value.oauth_error
    assert mock.info["private_key_pem"] not in str(info.value)


def test_transport_error(mock: Mock) -> None:
    client = cozefallback.Client({"base_url": "http://127.0.0.1:9", "personal": {"type": "pat", "token": "pat_x"},
                                  "retry": {"max_retries": 0}})
    with pytest.raises(cozefallback.TransportError) as info:
        client.get("/v1/workspaces")
    assert info.value.kind == "transport"
    assert "pat_x" not in str(info.value)


def test_stream_interrupted(mock: Mock) -> None:
    mock.state({"faults": [{"path": "/v3/chat", "action": {"type": "truncate_stream", "after_events": 2}}]})
    client = cozefallback.Client(mock.pat_config())
    got = []
    with pytest.raises(cozefallback.StreamInterruptedError) as info:
        with client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True)) as s:
            for ev in s:
                got.append(ev)
    assert len(got) == 2 and info.value.events_delivered == 2
    assert info.value.credential == "personal"
    assert pickle.loads(pickle.dumps(info.value)).events_delivered == 2


def test_closed_client_raises() -> None:
    client = cozefallback.Client({"personal": {"type": "pat", "token": "pat_x"}})
    with client:
        pass
    assert client.closed
    with pytest.raises(cozefallback.InvalidArgumentError):
        client.get("/v1/workspaces")
    client.close()  # idempotent


def test_reauth_required_error(mock: Mock) -> None:
    cfg = mock.pat_config()
    cfg["personal"] = {"type": "oauth", "client_id": mock.info["oauth_client_id"], "access_token": "czu_bogus",
                       "refresh_token": "bogus"}
    cfg["mode"] = "personal_only"
    client = cozefallback.Client(cfg)
    with pytest.raises(cozefallback.ReauthRequiredError) as info:
        client.get(f"/v1/bots/{mock.bot}")
    err = info.value
    assert err.kind == "reauth_required"
    assert err.authorize_url and mock.info["oauth_client_id"] in err.authorize_url
    assert isinstance(err.previous, cozefallback.AuthError)
    back = pickle.loads(pickle.dumps(err))
    assert back.authorize_url == err.authorize_url


# ---------------------------------------------------------------- API surface


def test_response_fields(mock: Mock) -> None:
    with cozefallback.Client(mock.pat_config()) as client:
        r = client.get(f"/v1/bots/{mock.bot}", query={"x": 1})
        assert r.status == 200 and r.credential == "personal" and r.attempts == 1
        assert r.logid and r.headers["x-tt-logid"] == r.logid
        assert isinstance(r.content, bytes) and r.text == r.content.decode()
        assert r.json()["code"] == 0
        assert "Response" in repr(r)
        p = client.post("/v3/chat", json=mock.chat_body())
        assert p.json()["code"] == 0


def test_stream_sync_and_async(mock: Mock) -> None:
    mock.state({"moved": True})
    client = cozefallback.Client(mock.pat_config())
    with client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True)) as s:
        events = list(s)
        assert s.credential == "enterprise" and s.attempts == 2 and s.status == 200
    assert events[0].event == "conversation.chat.created" and events[-1].event == "done"
    assert isinstance(events[1].json(), (dict, str))
    assert pickle.loads(pickle.dumps(events[0])) == events[0]

    # Closing early releases the stream.
    s2 = client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True))
    first = next(s2)
    s2.close()
    assert first.event == "conversation.chat.created"
    assert list(s2) == []

    async def run() -> None:
        async with cozefallback.AsyncClient(mock.pat_config()) as ac:
            names = [ev.event async for ev in ac.stream("POST", "/v3/chat", json=mock.chat_body(stream=True))]
            assert names[0] == "conversation.chat.created" and names[-1] == "done"
            async with ac.stream("POST", "/v1/workflow/stream_run", json={"workflow_id": mock.info["workflow_id"],
                                                                              "parameters": {}}) as st:
                evs = [ev async for ev in st]
                assert st.credential == "enterprise"
                assert evs[-1].event.lower() == "done" and evs[0].id is not None

    asyncio.run(run())


def test_upload_inputs(mock: Mock, tmp_path: Path) -> None:
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello world")
    client = cozefallback.Client(mock.pat_config())
    for file, name in ((f, "hello.txt"), (str(f), "hello.txt"), (b"hello world", "file"),
                       (io.BytesIO(b"hello world"), "file"), (open(f, "rb"), "hello.txt")):
        r = client.upload("/v1/files/upload", file)  # type: ignore[arg-type]
        data = r.json()["data"]
        assert data["bytes"] == 11 and data["file_name"] == name, (file, data)

    async def run() -> None:
        async with cozefallback.AsyncClient(mock.pat_config()) as ac:
            r = await ac.upload("/v1/files/upload", f, filename="x.bin")
            assert r.json()["data"]["file_name"] == "x.bin"

    asyncio.run(run())


def test_set_mode_and_metrics(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    client.set_mode("enterprise_first")
    assert client.mode == "enterprise_first"
    mock.state({"moved": True})
    assert client.get(f"/v1/bots/{mock.bot}").credential == "enterprise"
    m = client.metrics()
    assert m["mode"] == "enterprise_first" and m["requests_total"] >= 1
    assert "cozefallback_" in client.metrics_prometheus()
    with pytest.raises(cozefallback.ConfigError):
        client.set_mode("sideways")


def test_from_env(mock: Mock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COZE_API_BASE", mock.base_url)
    monkeypatch.setenv("COZE_API_TOKEN", mock.info["personal_pat"])
    monkeypatch.setenv("COZE_API_TOKEN_ENTERPRISE", mock.info["enterprise_pat"])
    client = cozefallback.Client.from_env()
    assert client.base_url.rstrip("/") == mock.base_url.rstrip("/")
    assert client.get(f"/v1/bots/{mock.bot}").credential == "personal"
    aclient = cozefallback.AsyncClient.from_env()
    assert isinstance(aclient, cozefallback.AsyncClient)


def test_logging_goes_to_python_logger_redacted(mock: Mock, caplog: pytest.LogCaptureFixture) -> None:
    mock.state({"moved": True})
    client = cozefallback.Client(mock.pat_config())
    with caplog.at_level(logging.DEBUG, logger="cozefallback"):
        client.get(f"/v1/bots/{mock.bot}")
    records = [r for r in caplog.records if r.name == "cozefallback"]
    fallback = [r.getMessage() for r in records if "falling back" in r.getMessage()]
    assert fallback, [r.getMessage() for r in records]
    # Plain values, no Rust Debug shapes (`Some(4101)`, quoted strings).
    assert "from=personal to=enterprise reason=4101" in fallback[0], fallback[0]
    assert all("Some(" not in r.getMessage() and "None" not in r.getMessage() for r in records), fallback
    text = "\n".join(r.getMessage() for r in records)
    assert mock.info["personal_pat"] not in text and mock.info["enterprise_pat"] not in text
    # Disabled logger: nothing is produced.
    caplog.clear()
    with caplog.at_level(logging.CRITICAL, logger="cozefallback"):
        client.get(f"/v1/bots/{mock.bot}")
    assert not [r for r in caplog.records if r.name == "cozefallback"]


# ---------------------------------------------------------------- OAuth


def test_oauth_pkce_code_exchange_and_refresh(mock: Mock) -> None:
    app = cozefallback.OAuthApp(mock.base_url, mock.info["oauth_client_id"])
    auth = app.authorize_url("http://localhost/cb", pkce=True)
    assert "code_challenge_method=S256" in auth.url and auth.state and auth.code_verifier
    assert auth.code_verifier not in repr(auth)
    import base64
    import hashlib

    challenge = base64.urlsafe_b64encode(hashlib.sha256(auth.code_verifier.encode()).digest()).rstrip(b"=").decode()
    code = mock.oauth_code("http://localhost/cb", challenge)
    token = app.exchange_code(code, "http://localhost/cb", auth.code_verifier)
    assert token.access_token and token.refresh_token and token.expires_at > time.time()
    assert token.access_token not in repr(token)
    assert token.refresh_token is not None
    refreshed = app.refresh(token.refresh_token)
    assert refreshed.access_token != token.access_token
    with pytest.raises(cozefallback.AuthError) as info:
        app.refresh(token.refresh_token)  # rotated: the old one is refused
    assert info.value.oauth_error == "invalid_grant"

    # The token works as an OBO credential.
    cfg = {"base_url": mock.base_url, "personal": refreshed.oauth_config(mock.info["oauth_client_id"])}
    assert cozefallback.Client(cfg).get(f"/v1/bots/{mock.bot}").credential == "personal"


def test_oauth_device_flow_async(mock: Mock) -> None:
    async def run() -> None:
        app = cozefallback.AsyncOAuthApp(mock.base_url, mock.info["oauth_client_id"])
        code = await app.device_code()
        assert code.user_code and code.verification_uri
        with pytest.raises(cozefallback.AuthError) as info:
            await app.poll_device_token(code.device_code)
        assert info.value.oauth_error == "authorization_pending"
        mock.approve_device(code.user_code)
        token = await app.poll_device_token(code.device_code)
        assert token.access_token

    asyncio.run(run())


def test_refresh_hook(mock: Mock) -> None:
    seen: List[Any] = []
    client = cozefallback.Client(mock.pat_config())
    client.set_refresh_hook(seen.append)
    client.set_refresh_hook(None)
