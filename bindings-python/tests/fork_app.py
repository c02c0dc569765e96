"""A tiny WSGI app for the gunicorn fork test: the client is made, and used, at import, in the gunicorn master
(``--preload``); the forked workers answer through it."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterable, List, Tuple

import cozefallback

CONFIG = json.loads(os.environ["COZE_FORK_APP_CONFIG"])
BOT = os.environ["COZE_FORK_APP_BOT"]

client = cozefallback.Client(CONFIG)
# Used before the fork: the runtime, the connection pool and the route table exist in the master.
IMPORT_CREDENTIAL = client.get(f"/v1/bots/{BOT}", timeout=10).credential
MASTER_PID = os.getpid()


def app(environ: Any, start_response: Callable[[str, List[Tuple[str, str]]], Any]) -> Iterable[bytes]:
    try:
        r = client.get(f"/v1/bots/{BOT}", timeout=10)
        body = {"credential": r.credential, "attempts": r.attempts, "pid": os.getpid(), "master": MASTER_PID}
        status = "200 OK"
    except cozefallback.CozeError as e:
        body = {"error": str(e), "pid": os.getpid()}
        status = "502 Bad Gateway"
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
