"""The live migration under load and faults through the Python binding (short form), and a secret scan of
everything Python code can see: log records at DEBUG, exception messages and reprs, metrics.

Full form: SOAK_REQUESTS=5000 pytest bindings-python/tests/test_soak_and_secrets.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import re
from typing import Any, Dict, List

import pytest

import cozefallback
from conftest import Mock

FAULTS = [
    {"path": "/api/permission/oauth2/", "probability": 0.05,
     "action": {"type": "http", "http_status": 503, "body": "busy", "content_type": "text/plain"}},
    {"path": "/api/permission/oauth2/", "probability": 0.05, "action": {"type": "latency", "ms": 300}},
    {"path": "/v", "probability": 0.001, "action": {"type": "reset"}},
    {"path": "/v", "probability": 0.005,
     "action": {"type": "http", "http_status": 502, "body": "<html>bad gateway</html>", "content_type": "text/html"}},
    {"path": "/v", "probability": 0.005,
     "action": {"type": "http", "http_status": 503, "body": "<html>unavailable</html>", "content_type": "text/html"}},
]


def jwt_config(mock: Mock) -> Dict[str, Any]:
    info = mock.info

    def jwt(target: str, value: str) -> Dict[str, Any]:
        return {"type": "jwt", "client_id": info["jwt_client_id"], "private_key": info["private_key_pem"],
                "public_key_id": info["jwt_kid"], target: value}

    return {"base_url": mock.base_url, "personal": jwt("account_id", info["account_id"]),
            "enterprise": jwt("enterprise_id", info["enterprise_id"]),
            "retry": {"base_delay_ms": 5, "max_delay_ms": 100}}


def injected(err: cozefallback.CozeError) -> bool:
    """Whether an injected fault explains this failure (the migration guide's recipe could not have served it either)."""
    if isinstance(err, cozefallback.ApiError) and err.http_status in (502, 503):
        return True
    if isinstance(err, cozefallback.TransportError):
        return True
    return isinstance(err, cozefallback.AuthError) and err.http_status == 503


def test_live_migration_under_load_loses_nothing(mock: Mock) -> None:
    requests = int(os.environ.get("SOAK_REQUESTS", "2000"))
    mock.state({"token_ttl_secs": 2, "faults": FAULTS})
    bots: List[str] = mock.info["bots"]

    async def run() -> List[Any]:
        client = cozefallback.AsyncClient(jwt_config(mock))
        counter = iter(range(requests))
        results: List[Any] = []

        async def worker() -> None:
            for i in counter:
                if i == requests // 2:
                    mock.state({"moved": True})
                bot = bots[i % len(bots)]
                try:
                    if i % 4 == 3:
                        async with client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True, bot=bot)) as s:
                            names = [ev.event async for ev in s]
                        assert names[-1] == "done"
                        results.append(s.attempts)
                    elif i % 4 == 2:
                        results.append((await client.post("/v3/chat", json=mock.chat_body(bot=bot))).attempts)
                    else:
                        results.append((await client.get(f"/v1/bots/{bot}")).attempts)
                except cozefallback.CozeError as err:
                    results.append(err)

        await asyncio.gather(*(worker() for _ in range(64)))
        return results

    results = asyncio.run(run())
    assert len(results) == requests, "every request answered exactly once"
    errors = [r for r in results if isinstance(r, cozefallback.CozeError)]
    unexplained = [repr(e) for e in errors if not injected(e)]
    assert not unexplained, unexplained
    attempts = sum(r if isinstance(r, int) else r.attempts for r in results)
    assert attempts == mock.stats()["requests"]["total"], "the client's attempts and the mock's count agree"
    assert len(errors) <= requests * 0.03


def test_nothing_python_sees_holds_a_secret(mock: Mock, caplog: pytest.LogCaptureFixture) -> None:
    info = mock.info
    caplog.set_level(logging.DEBUG, logger="cozefallback")
    seen: List[str] = []
    client = cozefallback.Client(jwt_config(mock) | {"personal": {"type": "pat", "token": info["personal_pat"]}})
    seen.append(repr(client))
    seen.append(repr(client.get(f"/v1/bots/{mock.bot}")))
    mock.state({"moved": True})
    with client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True)) as s:
        seen.extend(repr(ev) for ev in s)
    for bad in ("/v1/bots/7350000000000000777",):
        with pytest.raises(cozefallback.ApiError) as info_err:
            client.get(bad)
        err = info_err.value
        seen += [str(err), repr(err), repr(err.previous), repr(pickle.loads(pickle.dumps(err)).__dict__)]
    wrong = cozefallback.Client({"base_url": mock.base_url, "personal": {"type": "pat", "token": "pat_leakme123456"}})
    with pytest.raises(cozefallback.CozeError) as wrong_err:
        wrong.get(f"/v1/bots/{mock.bot}")
    seen += [str(wrong_err.value), repr(wrong_err.value)]
    for bad_config in (
        {"personal": {"type": "pat", "token": "pat_leak\nme"}},
        {"personal": {"type": "oauth", "client_id": "1", "client_secret": "supersecret", "access_token": ""}},
    ):
        with pytest.raises(cozefallback.ConfigError) as cfg_err:
            cozefallback.Client(bad_config)
        seen += [str(cfg_err.value), repr(cfg_err.value)]
    seen += [repr(client.metrics()), client.metrics_prometheus()]
    seen += [r.getMessage() for r in caplog.records]
    assert any(r.name.startswith("cozefallback") for r in caplog.records), "no log record: the scan proves nothing"

    secrets = [info["personal_pat"], info["enterprise_pat"], info["oauth_client_secret"], "pat_leakme123456",
               "supersecret", info["private_key_pem"].splitlines()[1]]
    token_shape = re.compile(r"\b(pat_|czs_|czu_|czr_|eyJ)[A-Za-z0-9]")
    for text in seen:
        for secret in secrets:
            assert secret not in text, f"secret {secret[:8]}... leaked in {text[:200]}"
        assert not token_shape.search(text), f"token-shaped text in {text[:200]}"
        assert "PRIVATE KEY" not in text or "[PEM redacted]" in text
