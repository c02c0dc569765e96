"""One process of a test fleet (tests/test_fleet.py): builds a cozefallback.Client from the JSON config in argv[1],
then answers one JSON command per stdin line with one JSON line on stdout, until ``quit`` or end of input.

The library's log records (level DEBUG and up) go to stderr, which the test captures to a file and scans for
secrets. Every wait here is bounded by the command's own ``timeout_ms``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable, Dict, Optional

import cozefallback


def unix_ms() -> int:
    return int(time.time() * 1000)


def sleep_until(at_ms: Optional[int]) -> None:
    """Lets several processes start a call at the same wall-clock moment (a race), at most 5 s from now."""
    if at_ms is None:
        return
    delay = min(max(at_ms - unix_ms(), 0), 5000) / 1000
    time.sleep(delay)


def poll(ok: Callable[[], bool], timeout_ms: int, step: float = 0.001) -> bool:
    until = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < until:
        if ok():
            return True
        time.sleep(step)
    return ok()


class Worker:
    def __init__(self, client: cozefallback.Client) -> None:
        self.client = client

    def ready(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        """Waits until the client's Redis store is connected (its metrics say ``up``)."""
        poll(lambda: self.client.metrics()["state"]["up"] is True, cmd.get("timeout_ms", 10000), 0.01)
        return {"up": self.client.metrics()["state"]["up"]}

    def get(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        ok, failed, errors = 0, 0, []
        for _ in range(cmd.get("n", 1)):
            try:
                self.client.get(cmd["path"], timeout=10)
                ok += 1
            except cozefallback.CozeError as e:
                failed += 1
                errors.append(f"{type(e).__name__}: {e}")
        return {"ok": ok, "failed": failed, "errors": errors[:3]}

    def mode(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        return {"mode": self.client.mode}

    def set_mode(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        at = unix_ms()
        self.client.set_mode(cmd["mode"])
        return {"at_ms": at, "mode": self.client.mode}

    def wait_mode(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        """The wall-clock ms at which ``client.mode`` first showed ``mode`` (None if not within timeout_ms)."""
        seen = poll(lambda: self.client.mode == cmd["mode"], cmd["timeout_ms"])
        return {"seen_ms": unix_ms() if seen else None, "mode": self.client.mode}

    def chat(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        body = {
            "bot_id": cmd["bot"],
            "user_id": "fleet-user",
            "stream": False,
            "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}],
        }
        query = {"conversation_id": cmd["conv"]} if cmd.get("conv") else None
        sleep_until(cmd.get("at_ms"))
        try:
            resp = self.client.post("/v3/chat", query=query, json=body, timeout=20)
        except cozefallback.CozeError as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
        moved = resp.conversation_moved
        return {
            "ok": True,
            "credential": resp.credential,
            "conversation_id": resp.json()["data"]["conversation_id"],
            "moved_to": moved.to if moved is not None else None,
        }

    def token(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        sleep_until(cmd.get("at_ms"))
        try:
            self.client.fetch_token(cmd.get("credential", "enterprise"))
            return {"ok": True}
        except cozefallback.CozeError as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}

    def metrics(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        return {"metrics": self.client.metrics(), "prometheus": self.client.metrics_prometheus()}

    def repr(self, cmd: Dict[str, Any]) -> Dict[str, Any]:
        return {"repr": repr(self.client), "str": str(self.client)}


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        client = cozefallback.Client(sys.argv[1])
    except cozefallback.CozeError as e:
        print(json.dumps({"built": False, "error": f"{type(e).__name__}: {e}", "repr": repr(e)}), flush=True)
        return
    built_ms = int((time.monotonic() - started) * 1000)
    print(json.dumps({"built": True, "mode": client.mode, "build_ms": built_ms}), flush=True)
    worker = Worker(client)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            break
        handler = getattr(worker, op, None)
        answer = handler(cmd) if handler is not None else {"error": f"unknown op {op!r}"}
        print(json.dumps(answer), flush=True)
    client.close()


if __name__ == "__main__":
    main()
