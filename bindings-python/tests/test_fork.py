"""A client survives fork: os.fork, multiprocessing's fork context and a real gunicorn --preload. Every wait in the
parent is bounded, and every child has an alarm, so a hang fails the test instead of stalling the suite. Before
the fork support the child's first call hung forever."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import cozefallback

from conftest import Mock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")

HERE = Path(__file__).resolve().parent


def wait_child(pid: int, limit: float = 30.0) -> int:
    """The child's exit code; kills it and fails past `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            if os.WIFSIGNALED(status):
                pytest.fail(f"the child died of signal {os.WTERMSIG(status)} (its alarm: a hang)")
            return os.WEXITSTATUS(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the child hung for {limit} s")


def fork() -> int:
    # Python 3.12+ warns that forking a process with threads (the library's) may deadlock: that is what the
    # library handles, so the warning is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def in_child(check: Any) -> None:
    """Runs `check` in a forked child and leaves with its code: nothing of pytest runs in the child."""
    code = 99
    try:
        signal.alarm(20)
        code = check()
    except BaseException as e:  # noqa: BLE001 - report anything, then leave
        print(f"child: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        code = 98
    finally:
        os._exit(code)


def test_os_fork_with_a_client_used_before_the_fork(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    assert client.get(f"/v1/bots/{mock.bot}", timeout=5).credential == "personal"
    mock.state({"moved": True})
    r = client.get(f"/v1/bots/{mock.bot}", timeout=5)
    assert (r.credential, r.attempts) == ("enterprise", 2)

    def check() -> int:
        r = client.get(f"/v1/bots/{mock.bot}", timeout=5)
        # The learned route came along: one attempt.
        if (r.credential, r.attempts) != ("enterprise", 1):
            return 2
        with client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True), timeout=5) as s:
            if len(list(s)) != 7:
                return 3
        fresh = cozefallback.Client(mock.pat_config())
        r = fresh.get(f"/v1/bots/{mock.bot}", timeout=5)
        return 0 if (r.credential, r.attempts) == ("enterprise", 2) else 4

    pid = fork()
    if pid == 0:
        in_child(check)
    assert wait_child(pid) == 0
    # The parent is unaffected by its child.
    assert client.get(f"/v1/bots/{mock.bot}", timeout=5).attempts == 1


def test_os_fork_with_an_async_client_used_before_the_fork(mock: Mock) -> None:
    import asyncio

    aclient = cozefallback.AsyncClient(mock.pat_config())

    async def call() -> str:
        return (await aclient.get(f"/v1/bots/{mock.bot}", timeout=5)).credential

    assert asyncio.run(call()) == "personal"
    pid = fork()
    if pid == 0:
        in_child(lambda: 0 if asyncio.run(call()) == "personal" else 2)
    assert wait_child(pid) == 0


def test_a_stream_being_read_in_another_thread_at_the_fork(mock: Mock) -> None:
    """The parent thread inside next() holds the stream's lock when the fork happens; that thread does not
    exist in the child. The child's next() must fail at once with InvalidArgumentError, not wait for the lock."""
    import threading

    client = cozefallback.Client(mock.pat_config())
    mock.state({"faults": [{"path": "/v3/chat", "action": {"type": "slow_stream", "gap_ms": 300}}]})
    stream = client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True), timeout=20)
    events: List[Any] = []
    reader = threading.Thread(target=lambda: events.extend(stream), daemon=True)
    reader.start()
    time.sleep(0.45)  # the reader is inside next(), waiting for the next slow event

    def check() -> int:
        started = time.monotonic()
        try:
            next(stream)
            return 2
        except cozefallback.InvalidArgumentError as e:
            if "before a fork()" not in str(e):
                return 3
        if time.monotonic() - started > 1.0:
            return 4
        stream.close()
        return 0

    pid = fork()
    if pid == 0:
        in_child(check)
    assert wait_child(pid) == 0
    reader.join(20)
    assert not reader.is_alive() and len(events) > 2, events  # the parent reads on, unaffected


# multiprocessing pickles the function by name: the client lives in a module global made before the pool.
_POOL_CLIENT: Optional[cozefallback.Client] = None
_POOL_BOT = ""


def _pool_call(_: int) -> Dict[str, Any]:
    assert _POOL_CLIENT is not None
    r = _POOL_CLIENT.get(f"/v1/bots/{_POOL_BOT}", timeout=5)
    return {"credential": r.credential, "pid": os.getpid()}


def test_multiprocessing_fork_context(mock: Mock) -> None:
    global _POOL_CLIENT, _POOL_BOT
    _POOL_CLIENT = cozefallback.Client(mock.pat_config())
    _POOL_BOT = mock.bot
    assert _pool_call(0)["credential"] == "personal"
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = ctx.Pool(2)
    try:
        results: List[Dict[str, Any]] = pool.map_async(_pool_call, range(8)).get(timeout=30)
    finally:
        pool.terminate()
        pool.join()
    assert [r["credential"] for r in results] == ["personal"] * 8
    assert os.getpid() not in {r["pid"] for r in results}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get_json(url: str) -> Dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        body: Dict[str, Any] = json.loads(r.read())
        return body


def test_gunicorn_preload_two_workers_across_the_move(mock: Mock) -> None:
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
    if gunicorn is None:
        pytest.fail("gunicorn is not installed (bindings-python/test.sh installs it)")
    port = _free_port()
    env = dict(os.environ)
    env["COZE_FORK_APP_CONFIG"] = json.dumps(mock.pat_config())
    env["COZE_FORK_APP_BOT"] = mock.bot
    log = tempfile.TemporaryFile()
    # Its own process group: the cleanup stops the master and every worker, even a hung one.
    proc = subprocess.Popen(
        [gunicorn, "--preload", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "20", "fork_app:app"],
        cwd=str(HERE),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                first = _get_json(url)
                break
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        answers = [first] + [_get_json(url) for _ in range(15)]
        assert {a.get("credential") for a in answers} == {"personal"}, answers
        assert all(a["pid"] != a["master"] for a in answers)
        mock.state({"moved": True})
        answers = [_get_json(url) for _ in range(16)]
        assert {a.get("credential") for a in answers} == {"enterprise"}, answers
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a worker that outlived its master
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)
        log.seek(0)
        out = log.read()
        log.close()
    assert b"Traceback" not in out, out.decode(errors="replace")
