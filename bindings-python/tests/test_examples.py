"""examples/python: type-checked with mypy --strict (against the package's stubs) and run against the mock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, Mock

EXAMPLES = sorted((REPO / "examples" / "python").glob("*.py"))


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 2


def test_mypy_strict_on_examples() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, EXAMPLES)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_on_package_api() -> None:
    """The public API and stubs are strict-clean as a user sees them."""
    code = (
        "import cozefallback\n"
        "def f(c: cozefallback.Client) -> int:\n"
        "    r: cozefallback.Response = c.get('/v1/x')\n"
        "    e: cozefallback.ApiError = cozefallback.ApiError('x')\n"
        "    t: type[cozefallback.HTTPTransport] = cozefallback.HTTPTransport\n"
        "    w: cozefallback.WebSocketSession = c.websocket('/v1/chat', {'bot_id': 'x'})\n"
        "    w.send({'event_type': 'chat.update'})\n"
        "    ev: cozefallback.WsEvent = next(w)\n"
        "    a: cozefallback.AsyncWebSocketSession = cozefallback.AsyncClient('{}').websocket('/v1/audio/speech')\n"
        "    return r.status + (e.code or 0)\n"
    )
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "-c", code],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_on_the_conversation_api() -> None:
    """The stubs type the conversation API as a user writes it (mypy --strict)."""
    code = (
        "from typing import Optional\n"
        "import cozefallback\n"
        "def moved(from_: str, to: str, messages_copied: int) -> None: ...\n"
        "def f(c: cozefallback.Client, a: cozefallback.AsyncClient) -> int:\n"
        "    c.set_conversation_hook(moved)\n"
        "    c.set_conversation_hook(None)\n"
        "    a.on_conversation_moved(moved)\n"
        "    cozefallback.Client('{}', on_conversation_moved=moved)\n"
        "    c.map_conversation('1', '2')\n"
        "    a.map_conversation('1', '2')\n"
        "    to: Optional[str] = c.mapped_conversation('1')\n"
        "    m: Optional[cozefallback.ConversationMoved] = c.get('/v1/x').conversation_moved\n"
        "    s: Optional[cozefallback.ConversationMoved] = c.stream('POST', '/v3/chat').conversation_moved\n"
        "    try:\n"
        "        c.post('/v3/chat')\n"
        "    except cozefallback.ConversationStrandedError as e:\n"
        "        ids: Optional[str] = e.conversation_id or e.file_id\n"
        "        owner: Optional[str] = e.conversation_owner or e.bot_credential\n"
        "    assert m is not None\n"
        "    old: str = m.from_\n"
        "    return m.messages_copied + len(m.to) + len(str(m['from']))\n"
    )
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "-c", code],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(mock: Mock, example: Path) -> None:
    mock.state({"faults": [{"path": "/v1/bots", "action": {"type": "latency", "ms": 1}}]})
    env = dict(os.environ)
    env.update(
        COZE_API_BASE=mock.base_url,
        COZE_API_TOKEN=mock.info["personal_pat"],
        COZE_API_TOKEN_ENTERPRISE=mock.info["enterprise_pat"],
        COZE_BOT_ID=mock.bot,
    )
    r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert mock.info["personal_pat"] not in r.stdout + r.stderr
