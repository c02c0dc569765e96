"""HTTPS for real, from Python: the TLS mock trusted through ``tls.ca_file`` and through ``SSL_CERT_FILE``, an
untrusted certificate refused with a TransportError that names TLS, and an HTTPS_PROXY CONNECT proxy (written
here) that carries the call without ever seeing the token. The process environment is only changed in child
processes: the core reads it when a client is built."""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import cozefallback
from conftest import Mock

PROXY_VARS = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
              "NO_PROXY", "no_proxy", "REQUEST_METHOD", "SSL_CERT_FILE", "SSL_CERT_DIR"]

# Run in a child process with a chosen environment: builds a client, makes one chat call, prints the outcome.
CHILD = r"""
import json, sys
import cozefallback
config, body = json.loads(sys.argv[1]), json.loads(sys.argv[2])
try:
    with cozefallback.Client(config) as client:
        r = client.post("/v3/chat", json=body)
        print(json.dumps({"ok": True, "status": r.status, "code": r.json()["code"], "credential": r.credential}))
except cozefallback.CozeError as e:
    print(json.dumps({"ok": False, "type": type(e).__name__, "message": str(e), "field": e.field}))
"""


def run_child(mock: Mock, config: Dict[str, Any], **env: str) -> Dict[str, Any]:
    child_env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    child_env.update(env)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(config), json.dumps(mock.chat_body())],
        env=child_env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def with_ca(mock: Mock, ca: Any = None) -> Dict[str, Any]:
    return mock.pat_config(tls={"ca_file": ca if ca is not None else mock.ca_file})


def wait_for(check: Any, seconds: float = 5.0) -> None:
    deadline = time.time() + seconds
    while not check() and time.time() < deadline:
        time.sleep(0.01)


# ---------------------------------------------------------------- trust through the config


def test_ca_file_trusts_the_tls_mock_over_http2(tls_mock: Mock) -> None:
    assert tls_mock.base_url.startswith("https://127.0.0.1:")
    with cozefallback.Client(with_ca(tls_mock)) as client:
        r = client.post("/v3/chat", json=tls_mock.chat_body())
        assert r.status == 200 and r.json()["code"] == 0 and r.credential == "personal"
        with client.stream("POST", "/v3/chat", json=tls_mock.chat_body(stream=True)) as s:
            events = [ev.event for ev in s]
        assert events[0] == "conversation.chat.created" and events[-1] == "done" and len(events) == 7
    # A pathlib.Path is accepted as the file name.
    with cozefallback.Client(with_ca(tls_mock, Path(str(tls_mock.ca_file)))) as client:
        tls_mock.state({"moved": True})
        assert client.post("/v3/chat", json=tls_mock.chat_body()).credential == "enterprise"
    stats = tls_mock.stats()["requests"]
    assert stats["by_http_version"] == {"HTTP/2": stats["total"]}, stats


def test_async_client_over_https(tls_mock: Mock) -> None:
    async def main() -> List[int]:
        async with cozefallback.AsyncClient(with_ca(tls_mock)) as client:
            rs = await asyncio.gather(*(client.post("/v3/chat", json=tls_mock.chat_body()) for _ in range(5)))
            return [r.json()["code"] for r in rs]

    assert asyncio.run(main()) == [0] * 5


# ---------------------------------------------------------------- refusals


def test_untrusted_certificate_is_a_transport_error_naming_tls(tls_mock: Mock) -> None:
    client = cozefallback.Client(tls_mock.pat_config())  # no tls.ca_file: the mock's CA is not trusted
    with pytest.raises(cozefallback.TransportError) as info:
        client.post("/v3/chat", json=tls_mock.chat_body())
    err = info.value
    assert isinstance(err, cozefallback.CozeError) and err.kind == "transport"
    assert "TLS handshake with 127.0.0.1:" in str(err), str(err)
    assert "certificate is not signed by a trusted certificate authority" in str(err)
    assert "tls.ca_file" in str(err) and "SSL_CERT_FILE" in str(err)
    assert "UnknownIssuer" not in str(err) and "Custom {" not in str(err)
    wait_for(lambda: tls_mock.stats()["tls_handshake_failures"] > 0)
    stats = tls_mock.stats()
    assert stats["requests"]["total"] == 0, "no request, no token, reached the server"
    assert stats["tls_handshake_failures"] == 1, "a refused certificate is not retried"


def test_bad_ca_file_is_a_config_error(tls_mock: Mock, tmp_path: Path) -> None:
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.Client(with_ca(tls_mock, str(tmp_path / "missing.pem")))
    assert info.value.field == "tls.ca_file" and "no such file" in str(info.value)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.Client(with_ca(tls_mock, garbage))
    assert info.value.field == "tls.ca_file" and "BEGIN CERTIFICATE" in str(info.value)


# ---------------------------------------------------------------- SSL_CERT_FILE (child processes)


def test_ssl_cert_file_trusts_the_tls_mock(tls_mock: Mock) -> None:
    ok = run_child(tls_mock, tls_mock.pat_config(), SSL_CERT_FILE=str(tls_mock.ca_file))
    assert ok == {"ok": True, "status": 200, "code": 0, "credential": "personal"}, ok
    # The same child without the variable: refused, so it was the variable that made the difference.
    refused = run_child(tls_mock, tls_mock.pat_config())
    assert refused["ok"] is False and refused["type"] == "TransportError", refused
    assert "TLS" in refused["message"] and "certificate" in refused["message"]
    missing = run_child(tls_mock, tls_mock.pat_config(), SSL_CERT_FILE="/nonexistent/bundle.pem")
    assert missing["type"] == "ConfigError" and missing["field"] == "SSL_CERT_FILE", missing


# ---------------------------------------------------------------- an HTTPS_PROXY (CONNECT) written here


class ConnectProxy:
    """A loopback proxy: `CONNECT host:port` opens a tunnel and relays both ways, recording every byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.request_lines: List[str] = []
        self.relayed = bytearray()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        with client:
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk or len(head) > 65536:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            with self.lock:
                self.request_lines.append(line)
            parts = line.split(" ")
            if parts[0] != "CONNECT":
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                return
            host, port = parts[1].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._relay(client, upstream)

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while True:
            ready, _, _ = select.select(list(peers), [], [], 30)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                with self.lock:
                    self.relayed.extend(data)
                peers[s].sendall(data)


@pytest.fixture
def proxy() -> Any:
    p = ConnectProxy()
    yield p
    p.close()


def test_https_proxy_carries_the_call_and_never_sees_the_token(tls_mock: Mock, proxy: ConnectProxy) -> None:
    result = run_child(tls_mock, with_ca(tls_mock), HTTPS_PROXY=proxy.url)
    assert result == {"ok": True, "status": 200, "code": 0, "credential": "personal"}, result
    port = tls_mock.base_url.rsplit(":", 1)[1]
    with proxy.lock:
        assert proxy.request_lines == ["CONNECT 127.0.0.1:%s HTTP/1.1" % port]
        relayed = bytes(proxy.relayed)
    assert relayed[:1] == b"\x16" and len(relayed) > 1000, "the tunnel carried a TLS handshake first"
    for clear in (tls_mock.info["personal_pat"], tls_mock.info["enterprise_pat"], "Bearer", "/v3/chat", tls_mock.bot):
        assert clear.encode() not in relayed, "the proxy saw %r in clear" % clear
    assert tls_mock.stats()["requests"]["total"] == 1


def test_no_proxy_bypasses_the_proxy(tls_mock: Mock, proxy: ConnectProxy) -> None:
    result = run_child(tls_mock, with_ca(tls_mock), HTTPS_PROXY=proxy.url, NO_PROXY="127.0.0.1")
    assert result["ok"] is True, result
    with proxy.lock:
        assert proxy.request_lines == []


def test_a_dead_proxy_is_a_transport_error(tls_mock: Mock) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    config: Dict[str, Any] = with_ca(tls_mock)
    config["retry"] = {"max_retries": 0}
    proxy_url = "http://proxyuser:proxy-s3cret@127.0.0.1:%d" % port
    result: Optional[Dict[str, Any]] = run_child(tls_mock, config, HTTPS_PROXY=proxy_url)
    assert result is not None and result["ok"] is False and result["type"] == "TransportError", result
    assert "proxy-s3cret" not in result["message"], "the proxy's password must not show in the error"
    assert tls_mock.stats()["requests"]["total"] == 0


# ---------------------------------------------------------------- OAuthApp


def test_oauth_app_over_https_trusts_ca_file(tls_mock: Mock) -> None:
    client_id = tls_mock.info["oauth_client_id"]
    app = cozefallback.OAuthApp(tls_mock.base_url, client_id, ca_file=Path(str(tls_mock.ca_file)))
    assert app.device_code().user_code

    async def via_async() -> str:
        aapp = cozefallback.AsyncOAuthApp(tls_mock.base_url, client_id, ca_file=str(tls_mock.ca_file))
        return (await aapp.device_code()).user_code

    assert asyncio.run(via_async())
    # Not trusted: a TransportError that names TLS (not a bare "request failed").
    with pytest.raises(cozefallback.TransportError) as info:
        cozefallback.OAuthApp(tls_mock.base_url, client_id).device_code()
    assert "TLS handshake with 127.0.0.1:" in str(info.value), str(info.value)
    with pytest.raises(cozefallback.ConfigError) as cfg:
        cozefallback.OAuthApp(tls_mock.base_url, client_id, ca_file="/nonexistent/ca.pem")
    assert cfg.value.field == "tls.ca_file"


def test_oauth_app_takes_allow_insecure_http() -> None:
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.OAuthApp("http://coze.internal:8080", "1130")
    assert "allow_insecure_http" in str(info.value)
    cozefallback.OAuthApp("http://coze.internal:8080", "1130", allow_insecure_http=True)
    cozefallback.AsyncOAuthApp("http://coze.internal:8080", "1130", allow_insecure_http=True)
