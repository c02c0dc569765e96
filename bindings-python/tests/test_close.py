"""close() cancels the calls in flight: against a mock that never answers, close() returns at once, the call
raises CancelledError within a second, and later calls raise InvalidArgumentError."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import List

import pytest

import cozefallback

from conftest import Mock


def never_answer(mock: Mock) -> None:
    mock.state({"faults": [{"path": "/v1/", "action": {"type": "hang"}}]})


def test_sync_close_cancels_a_call_in_flight(mock: Mock) -> None:
    never_answer(mock)
    client = cozefallback.Client(mock.pat_config())
    raised: List[BaseException] = []
    ended = threading.Event()

    def call() -> None:
        try:
            client.get("/v1/workspaces")
        except BaseException as e:  # noqa: BLE001 - the test looks at it
            raised.append(e)
        ended.set()

    t = threading.Thread(target=call, daemon=True)
    t.start()
    time.sleep(0.3)
    assert not ended.is_set(), "the mock should hang the call"
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 0.5, "close() must not wait for the call"
    assert ended.wait(1.0), "the call did not end within 1 s of close()"
    assert len(raised) == 1 and isinstance(raised[0], cozefallback.CancelledError), raised
    assert "closed" in str(raised[0])
    with pytest.raises(cozefallback.InvalidArgumentError, match="closed"):
        client.get("/v1/workspaces")


def test_sync_close_ends_an_open_stream(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    stream = client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True))
    next(stream)
    client.close()
    with pytest.raises(cozefallback.CancelledError):
        list(stream)


def test_async_close_and_aclose_cancel_calls_in_flight(mock: Mock) -> None:
    never_answer(mock)

    async def main(close_name: str) -> None:
        client = cozefallback.AsyncClient(mock.pat_config())
        task = asyncio.ensure_future(client.get("/v1/workspaces"))
        await asyncio.sleep(0.3)
        assert not task.done()
        started = time.monotonic()
        await getattr(client, close_name)()
        assert time.monotonic() - started < 0.5
        with pytest.raises(cozefallback.CancelledError, match="closed"):
            await asyncio.wait_for(task, 1.0)
        with pytest.raises(cozefallback.InvalidArgumentError, match="closed"):
            await client.get("/v1/workspaces")

    asyncio.run(main("close"))
    asyncio.run(main("aclose"))
