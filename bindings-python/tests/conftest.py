"""Starts one coze-mock for the whole suite (COZE_MOCK_BIN, else the workspace's debug build)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]


def _mock_bin() -> str:
    env = os.environ.get("COZE_MOCK_BIN")
    if env:
        return env
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    for triple in (os.environ.get("CARGO_BUILD_TARGET", "x86_64-unknown-linux-gnu"), ""):
        p = Path(target) / triple / "debug" / "coze-mock"
        if p.exists():
            return str(p)
    raise RuntimeError("coze-mock not found: run `cargo build -p coze-mock` or set COZE_MOCK_BIN")


class Mock:
    def __init__(self, info: Dict[str, Any]) -> None:
        self.info = info
        self.base_url: str = info["base_url"]
        # The TLS mock (`--tls`) is reached through its own CA, written beside its keys.
        self.ca_file: Optional[str] = info.get("ca_file")
        self._ssl = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def _post(self, path: str, body: Any) -> Any:
        req = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10, context=self._ssl) as r:
            return json.loads(r.read() or b"null")

    def reset(self) -> None:
        self._post("/__mock/reset", {})

    def state(self, state: Dict[str, Any]) -> Any:
        return self._post("/__mock/state", state)

    def stats(self) -> Dict[str, Any]:
        with urllib.request.urlopen(self.base_url + "/__mock/stats", timeout=10, context=self._ssl) as r:
            result: Dict[str, Any] = json.loads(r.read())
            return result

    def oauth_code(self, redirect_uri: str, code_challenge: Optional[str] = None) -> str:
        body: Dict[str, Any] = {"redirect_uri": redirect_uri}
        if code_challenge:
            body["code_challenge"] = code_challenge
        code: str = self._post("/__mock/oauth/code", body)["code"]
        return code

    def approve_device(self, user_code: str) -> Any:
        return self._post("/__mock/oauth/device/approve", {"user_code": user_code})

    def pat_config(self, **extra: Any) -> Dict[str, Any]:
        cfg: Dict[str, Any] = {
            "base_url": self.base_url,
            "personal": {"type": "pat", "token": self.info["personal_pat"]},
            "enterprise": {"type": "pat", "token": self.info["enterprise_pat"]},
            "retry": {"base_delay_ms": 10, "max_delay_ms": 200},
        }
        cfg.update(extra)
        return cfg

    @property
    def bot(self) -> str:
        bot: str = self.info["bots"][0]
        return bot

    def chat_body(self, stream: bool = False, bot: Optional[str] = None) -> Dict[str, Any]:
        return {
            "bot_id": bot or self.bot,
            "user_id": "user-1",
            "stream": stream,
            "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}],
        }


def _start_mock(*flags: str) -> Iterator[Mock]:
    tmp = tempfile.mkdtemp(prefix="cozefallback-py-")
    info_file = os.path.join(tmp, "info.json")
    proc = subprocess.Popen(
        [_mock_bin(), "--info-file", info_file, "--keys-dir", tmp, *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while not (os.path.exists(info_file) and os.path.getsize(info_file) > 0):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("coze-mock did not start")
            time.sleep(0.02)
        time.sleep(0.05)
        with open(info_file) as f:
            info = json.load(f)
        yield Mock(info)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def mock_server() -> Iterator[Mock]:
    yield from _start_mock()


@pytest.fixture(scope="session")
def tls_mock_server() -> Iterator[Mock]:
    """The same mock over HTTPS (HTTP/2 and HTTP/1.1), its CA at ``ca_file``."""
    yield from _start_mock("--tls")


@pytest.fixture
def tls_mock(tls_mock_server: Mock) -> Mock:
    tls_mock_server.reset()
    return tls_mock_server


@pytest.fixture
def mock(mock_server: Mock) -> Mock:
    mock_server.reset()
    return mock_server
