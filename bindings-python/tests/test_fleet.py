"""A fleet of real OS processes, each running the built package (tests/fleet_worker.py), sharing state on one real
redis-server against the suite's one coze-mock (docs/FLEET.md): after the move the fleet pays one extra round
trip per resource, ``set_mode`` reaches every process within 1 s, eight processes racing on one stranded
conversation create one, ``share_tokens`` mints once for the fleet, and a wrong or unreachable Redis is no single
point of failure and never shows its password.

redis-server must be installed (bindings-python/test.sh installs it when missing, as scripts/test-all.sh does);
without it these tests fail, they are not skipped.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional

import pytest

import cozefallback
from conftest import Mock

WORKER_SCRIPT = str(Path(__file__).with_name("fleet_worker.py"))
# Every answer from a worker comes within this bound (the slowest op, a chat racing on a carry-over, is
# bounded at 20 s inside the worker), else the worker is killed and the test fails.
ANSWER_TIMEOUT = 30.0


# ---------------------------------------------------------------- a real redis-server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def resp_command(port: int, *args: str, password: Optional[str] = None) -> Any:
    """One Redis command in plain RESP (no client library in the test venv): the decoded reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        f = s.makefile("rb")
        if password is not None:
            s.sendall(_encode(["AUTH", password]))
            _decode(f)
        s.sendall(_encode(list(args)))
        return _decode(f)


def _encode(args: List[str]) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    return out


def _decode(f: IO[bytes]) -> Any:
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        return RuntimeError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_decode(f) for _ in range(n)]
    raise RuntimeError(f"unexpected Redis reply {line!r}")


class RedisServer:
    """One redis-server on a free loopback port, nothing saved to disk, killed by ``stop``."""

    def __init__(self, password: Optional[str] = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: the fleet tests need a real one "
                "(apt-get install -y redis-server; bindings-python/test.sh installs it when missing)",
                pytrace=False,
            )
        self.port = free_port()
        self.password = password
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if password is not None:
            args += ["--requirepass", password]
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                reply = resp_command(self.port, "PING", password=password)
                if reply == "PONG":
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._log.seek(0)
                output = self._log.read().decode(errors="replace")[-2000:]
                self.stop()
                pytest.fail(f"redis-server on port {self.port} did not answer within 10 s:\n{output}", pytrace=False)
            time.sleep(0.02)

    def url(self, password: Optional[str] = None) -> str:
        auth = f":{password}@" if password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> Any:
        return resp_command(self.port, *args, password=self.password)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._log.close()


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- worker processes


class Worker:
    """One OS process running tests/fleet_worker.py with the installed package; JSON lines over its pipes."""

    def __init__(self, config: Dict[str, Any], logs_dir: str) -> None:
        self.log_path = os.path.join(logs_dir, f"worker-{uuid.uuid4().hex[:8]}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, WORKER_SCRIPT, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._answers: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=self._read_lines, daemon=True).start()
        self.built: Dict[str, Any] = {}

    def _read_lines(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def wait_built(self) -> Dict[str, Any]:
        self.built = self.read()
        return self.built

    def send(self, op: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = ANSWER_TIMEOUT) -> Dict[str, Any]:
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            pytest.fail(f"worker {self.proc.pid} gave no answer within {timeout} s; its log:\n{self.logs()[-3000:]}")
        if line is None:
            pytest.fail(f"worker {self.proc.pid} exited ({self.proc.poll()}); its log:\n{self.logs()[-3000:]}")
        answer: Dict[str, Any] = json.loads(line)
        return answer

    def call(self, op: str, **args: Any) -> Dict[str, Any]:
        self.send(op, **args)
        return self.read()

    def logs(self) -> str:
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        """Asks the worker to quit (bounded), else kills it."""
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        self._log.close()


@pytest.fixture
def start_workers(tmp_path: Path) -> Iterator[Any]:
    """``start_workers(n, config)``: n worker processes started at once, each built (and, with a Redis store,
    connected); all of them are stopped at the end of the test."""
    started: List[Worker] = []

    def start(n: int, config: Dict[str, Any], wait_up: bool = True) -> List[Worker]:
        ws = [Worker(config, str(tmp_path)) for _ in range(n)]
        started.extend(ws)
        for w in ws:
            built = w.wait_built()
            assert built["built"] is True, built
        if wait_up:
            for i, w in enumerate(ws):
                assert w.call("ready")["up"] is True, f"worker {i} did not connect to Redis:\n{w.logs()[-2000:]}"
        return ws

    yield start
    for w in started:
        w.stop()


def unique_prefix(name: str) -> str:
    return f"pyfleet-{name}-{uuid.uuid4().hex[:8]}:"


def fleet_config(mock: Mock, redis: RedisServer, prefix: str, **state: Any) -> Dict[str, Any]:
    return mock.pat_config(state={"redis_url": redis.url(), "key_prefix": prefix, **state})


def by_credential(mock: Mock, credential: str) -> int:
    count: int = mock.stats()["requests"]["by_credential"][credential]
    return count


def wait_for_keys(redis: RedisServer, pattern: str, count: int, timeout: float = 5.0) -> List[str]:
    """Polls (bounded) until at least ``count`` keys match ``pattern``; the keys found."""
    deadline = time.monotonic() + timeout
    keys: List[str] = []
    while time.monotonic() < deadline:
        keys = redis.command("KEYS", pattern)
        if len(keys) >= count:
            break
        time.sleep(0.02)
    return keys


# ---------------------------------------------------------------- 1. one round trip per resource for the fleet


def _fleet_across_the_move(mock: Mock, ws: List[Worker], per_bot: int) -> Dict[str, int]:
    """The mock moves; worker 0 calls every bot, then the others do: the personal and enterprise requests."""
    bots: List[str] = mock.info["bots"]
    mock.state({"moved": True})
    p0, e0 = by_credential(mock, "personal"), by_credential(mock, "enterprise")
    for bot in bots:
        r = ws[0].call("get", path=f"/v1/bots/{bot}", n=per_bot)
        assert r["failed"] == 0, r
    return {"p0": p0, "e0": e0}


def test_after_the_move_the_fleet_pays_one_round_trip_per_resource(
    mock: Mock, redis: RedisServer, start_workers: Any
) -> None:
    bots: List[str] = mock.info["bots"]
    per_bot = 3
    prefix = unique_prefix("once")
    ws = start_workers(4, fleet_config(mock, redis, prefix))
    before = _fleet_across_the_move(mock, ws, per_bot)
    # Worker 0's routes reach Redis (queued, sent by a background task), and the fleet hears of them.
    keys = wait_for_keys(redis, f"{prefix}route:*", len(bots))
    assert len(keys) >= len(bots), f"worker 0's learned routes were not stored: {keys}"
    time.sleep(0.5)  # published with the write: the other processes' local copies take milliseconds
    for i, w in enumerate(ws[1:], start=1):
        for bot in bots:
            r = w.call("get", path=f"/v1/bots/{bot}", n=per_bot)
            assert r["failed"] == 0, f"worker {i}: {r}"
    extra = by_credential(mock, "personal") - before["p0"]
    served = by_credential(mock, "enterprise") - before["e0"]
    calls = len(ws) * len(bots) * per_bot
    print(f"\nfleet of {len(ws)} on Redis: {calls} calls, {extra} extra round trip(s) for {len(bots)} resources")
    assert served == calls
    assert extra == len(bots), "one extra round trip per resource for the whole fleet, not one per process"


def test_without_a_state_store_every_process_pays_its_own_round_trips(mock: Mock, start_workers: Any) -> None:
    """The control: the same fleet without ``state`` pays one extra round trip per resource per process (so the
    test above can tell a shared store from none)."""
    bots: List[str] = mock.info["bots"]
    per_bot = 3
    ws = start_workers(4, mock.pat_config(), wait_up=False)
    before = _fleet_across_the_move(mock, ws, per_bot)
    time.sleep(0.3)
    for w in ws[1:]:
        for bot in bots:
            assert w.call("get", path=f"/v1/bots/{bot}", n=per_bot)["failed"] == 0
    extra = by_credential(mock, "personal") - before["p0"]
    print(f"\nfleet of {len(ws)} without Redis: {extra} extra round trip(s) for {len(bots)} resources")
    assert extra == len(bots) * len(ws)
    assert ws[0].call("metrics")["metrics"]["state"]["store"] == "in_process"


# ---------------------------------------------------------------- 2. set_mode reaches the fleet within 1 s


def test_set_mode_in_one_process_is_in_force_in_all_within_1s(
    mock: Mock, redis: RedisServer, start_workers: Any
) -> None:
    prefix = unique_prefix("mode")
    config = fleet_config(mock, redis, prefix)
    ws = start_workers(4, config)
    for w in ws:
        assert w.call("mode")["mode"] == "personal_first"
    for w in ws[1:]:
        w.send("wait_mode", mode="enterprise_only", timeout_ms=3000)
    time.sleep(0.05)
    set_at = ws[0].call("set_mode", mode="enterprise_only")["at_ms"]
    lags = []
    for i, w in enumerate(ws[1:], start=1):
        seen = w.read()
        assert seen["seen_ms"] is not None, f"worker {i} still in {seen['mode']} 3 s after set_mode"
        lags.append(seen["seen_ms"] - set_at)
    worst = max(lags)
    print(f"\nset_mode propagation to {len(lags)} processes: {lags} ms (worst {worst} ms)")
    assert worst < 1000, f"set_mode took {worst} ms to reach the fleet"
    for w in ws:
        assert w.call("mode")["mode"] == "enterprise_only"
    # A process that starts now adopts the fleet's mode over its configured personal_first.
    late = start_workers(1, config)[0]
    assert late.built["mode"] == "enterprise_only", late.built
    assert "adopted the fleet's routing mode" in late.logs()
    assert "enterprise_only" in redis.command("GET", f"{prefix}mode")


# ---------------------------------------------------------------- 3. one carry-over for eight racing processes


def creations(mock: Mock) -> int:
    count: int = mock.stats()["requests"]["by_path"].get("/v1/conversation/create", 0)
    return count


def test_eight_processes_racing_on_a_stranded_conversation_create_one(
    mock: Mock, redis: RedisServer, start_workers: Any
) -> None:
    bot: str = mock.bot
    ws = start_workers(8, fleet_config(mock, redis, unique_prefix("race")))
    first = ws[0].call("chat", bot=bot)
    assert first["ok"] is True and first["credential"] == "personal", first
    conv = first["conversation_id"]
    mock.state({"moved": True})
    before = creations(mock)
    at_ms = int(time.time() * 1000) + 300  # every process sends its chat at this moment
    for w in ws:
        w.send("chat", bot=bot, conv=conv, at_ms=at_ms)
    answers = [w.read() for w in ws]
    created = creations(mock) - before
    reported = [a for a in answers if a.get("moved_to")]
    print(f"\n8 processes on one stranded conversation: {created} conversation(s) created at the mock; "
          f"{len(reported)} of 8 calls reported conversation_moved")
    for i, a in enumerate(answers):
        assert a["ok"] is True, f"worker {i}: {a}"
    ids = {a["conversation_id"] for a in answers}
    assert created == 1, f"exactly one carry-over for the fleet: {answers}"
    assert len(ids) == 1 and conv not in ids, f"every process uses the one new id: {answers}"
    new_id = ids.pop()
    for a in answers:
        assert a["moved_to"] in (None, new_id), a
    assert reported, "at least the process that carried it over reports conversation_moved"


# ---------------------------------------------------------------- 4. share_tokens: one mint for the fleet


def jwt_fleet_config(mock: Mock, redis: RedisServer, prefix: str, share: bool) -> Dict[str, Any]:
    info = mock.info
    return {
        "base_url": mock.base_url,
        "mode": "enterprise_only",
        "enterprise": {"type": "jwt", "client_id": info["jwt_client_id"], "private_key_file": info["private_key_file"],
                       "public_key_id": info["jwt_kid"], "enterprise_id": info["enterprise_id"]},
        "state": {"redis_url": redis.url(), "key_prefix": prefix, "share_tokens": share},
    }


@pytest.mark.parametrize("share,mints_wanted", [(True, 1), (False, 4)], ids=["shared", "not_shared"])
def test_share_tokens_mints_once_per_target_for_the_fleet(
    mock: Mock, redis: RedisServer, start_workers: Any, share: bool, mints_wanted: int
) -> None:
    prefix = unique_prefix(f"tok-{share}")
    ws = start_workers(4, jwt_fleet_config(mock, redis, prefix, share))
    before = mock.stats()["token_mints"]["enterprise"]
    at_ms = int(time.time() * 1000) + 200
    for w in ws:
        w.send("token", at_ms=at_ms)
    for i, w in enumerate(ws):
        r = w.read()
        assert r["ok"] is True, f"worker {i}: {r}"
    bot: str = mock.info["enterprise_bot"]
    for i, w in enumerate(ws):
        r = w.call("get", path=f"/v1/bots/{bot}", n=2)
        assert r["failed"] == 0, f"worker {i}: {r}"
    minted = mock.stats()["token_mints"]["enterprise"] - before
    print(f"\nshare_tokens={share}: {minted} enterprise token mint(s) for a fleet of {len(ws)}")
    assert minted == mints_wanted
    token_keys = redis.command("KEYS", f"{prefix}token:*")
    assert len(token_keys) == (1 if share else 0), token_keys
    if share:
        assert redis.command("PTTL", token_keys[0]) > 0, "the shared token's key expires with the token"


# ---------------------------------------------------------------- 5. Redis is no single point of failure


PASSWORD = "s3cret-fleet-pass"
WRONG = "wrong-fleet-pass"


def test_a_wrong_password_or_closed_port_still_serves_and_never_shows_the_password(
    mock: Mock, start_workers: Any
) -> None:
    guarded = RedisServer(password=PASSWORD)
    try:
        closed_port = free_port()
        right = start_workers(1, mock.pat_config(state={"redis_url": guarded.url(PASSWORD)}))[0]
        wrong_url = guarded.url(WRONG)
        unreachable_url = f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/0"
        started = time.monotonic()
        bad = start_workers(
            2,
            mock.pat_config(state={"redis_url": wrong_url}),
            wait_up=False,
        ) + start_workers(1, mock.pat_config(state={"redis_url": unreachable_url}), wait_up=False)
        took = time.monotonic() - started
        assert took < 10, f"building the clients took {took:.1f} s"
        mock.state({"moved": True})
        texts: List[str] = []
        for i, w in enumerate(bad):
            assert w.built["build_ms"] < 5000, w.built
            for bot in mock.info["bots"]:
                r = w.call("get", path=f"/v1/bots/{bot}", n=2)
                assert r == {"ok": 2, "failed": 0, "errors": []}, f"worker {i} served without Redis: {r}"
            m = w.call("metrics")
            state = m["metrics"]["state"]
            assert state["store"] == "redis" and state["up"] is False, state
            assert state["errors_total"] > 0, state
            texts += [json.dumps(m), json.dumps(w.call("repr"))]
        time.sleep(0.5)  # the background reconnects log their warnings
        logs = [w.logs() for w in bad]
        for log in logs:
            assert "cannot reach the Redis state store" in log, log[-2000:]
        texts += logs
        # A bad URL is a ConfigError at build naming the field; its message and repr hide the password.
        with pytest.raises(cozefallback.ConfigError) as bad_scheme:
            cozefallback.Client(mock.pat_config(state={"redis_url": f"http://:{PASSWORD}@127.0.0.1:1/0"}))
        assert "state.redis_url" in str(bad_scheme.value), str(bad_scheme.value)
        with pytest.raises(cozefallback.ConfigError) as bad_db:
            cozefallback.Client(mock.pat_config(state={"redis_url": f"redis://:{PASSWORD}@127.0.0.1:1/x"}))
        for err in (bad_scheme.value, bad_db.value):
            texts += [str(err), repr(err), str(err.field), repr(err.args)]
        # The right password connects, so the pass above is not a Redis that accepts anything.
        assert right.call("metrics")["metrics"]["state"]["up"] is True
        texts.append(right.logs())
        for text in texts:
            assert PASSWORD not in text and WRONG not in text, text[-2000:]
    finally:
        guarded.stop()
