"""Realtime WebSocket sessions through Client.websocket and AsyncClient.websocket, against the mock: before and
after the move, the error-first fallback with the held events replayed, refused handshakes, a 403 without a Coze
code, a break after the first event, close codes, client.close() ending a waiting session, bad input."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Dict, List

import pytest

import cozefallback
from conftest import Mock

CHAT_EVENTS = [
    "chat.created",
    "chat.updated",
    "conversation.chat.created",
    "conversation.chat.in_progress",
    "conversation.message.delta",
    "conversation.message.delta",
    "conversation.message.delta",
    "conversation.message.completed",
    "conversation.chat.completed",
]


def chat_events() -> List[Dict[str, Any]]:
    return [
        {"id": "e1", "event_type": "chat.update", "data": {"chat_config": {"user_id": "user-1"}}},
        {
            "id": "e2",
            "event_type": "conversation.message.create",
            "data": {"role": "user", "content_type": "text", "content": "hi"},
        },
    ]


def read_chat(session: cozefallback.WebSocketSession) -> List[Dict[str, Any]]:
    events: List[Dict[str, Any]] = []
    for event in session:
        assert isinstance(event, dict), event
        events.append(event)
        if event["event_type"] == "conversation.chat.completed":
            break
    return events


def sessions(mock: Mock) -> List[Dict[str, Any]]:
    result: List[Dict[str, Any]] = mock.stats()["websocket"]["sessions"]
    return result


def test_chat_before_the_move_uses_the_personal_credential(mock: Mock) -> None:
    with cozefallback.Client(mock.pat_config()) as client:
        with client.websocket("/v1/chat", {"bot_id": mock.bot}) as ws:
            for event in chat_events():
                ws.send(event)
            events = read_chat(ws)
            assert [e["event_type"] for e in events] == CHAT_EVENTS
            # The events are the server's objects: data and detail as sent.
            deltas = "".join(e["data"]["content"] for e in events if e["event_type"] == "conversation.message.delta")
            assert deltas == "hello"
            assert events[0]["detail"]["logid"] and events[0]["id"]
            assert (ws.credential, ws.attempts, ws.events_delivered) == ("personal", 1, len(CHAT_EVENTS))
            assert ws.logid and ws.url.startswith("ws://127.0.0.1") and "bot_id=" in ws.url
            assert ws.close_code is None
            assert "pat_" not in repr(ws) and "personal" in repr(ws)
        # `with` closed it: iteration ends, sending is refused.
        assert list(ws) == []
        with pytest.raises(cozefallback.InvalidArgumentError, match="closed"):
            ws.send({"event_type": "chat.update"})
    assert [s["credential"] for s in sessions(mock)] == ["personal"]


def test_after_the_move_the_error_first_session_falls_back_and_replays_in_order(mock: Mock) -> None:
    mock.state({"moved": True})
    with cozefallback.Client(mock.pat_config()) as client, client.websocket("/v1/chat", {"bot_id": mock.bot}) as ws:
        for event in chat_events():
            ws.send(event)
        events = read_chat(ws)
        assert [e["event_type"] for e in events] == CHAT_EVENTS, "the 4101 error event must not reach the caller"
        assert (ws.credential, ws.attempts) == ("enterprise", 2)
    first, second = sessions(mock)
    assert (first["credential"], first["outcome"], first["code"]) == ("personal", "refused", 4101)
    assert (second["credential"], second["outcome"]) == ("enterprise", "upgraded")
    assert [r["id"] for r in second["received"]] == ["e1", "e2"]


def test_a_handshake_refused_with_a_fallback_code_falls_back(mock: Mock) -> None:
    mock.state({"moved": True, "personal_error_after_move": {"code": 4100, "http_status": 401}})
    with cozefallback.Client(mock.pat_config()) as client:
        ws = client.websocket("/v1/chat", {"bot_id": mock.bot})
        assert (ws.credential, ws.attempts) == ("enterprise", 2)
        with ws:
            for event in chat_events():
                ws.send(event)
            assert [e["event_type"] for e in read_chat(ws)] == CHAT_EVENTS
    assert [(s["credential"], s["outcome"], s["status"]) for s in sessions(mock)] == [
        ("personal", "refused_handshake", 401),
        ("enterprise", "upgraded", 101),
    ]


def test_a_403_without_a_coze_code_is_not_a_fallback(mock: Mock) -> None:
    mock.state(
        {
            "faults": [
                {
                    "path": "/v1/chat",
                    "credential": "personal",
                    "action": {"type": "http", "http_status": 403, "body": "Forbidden"},
                }
            ]
        }
    )
    with cozefallback.Client(mock.pat_config()) as client:
        with pytest.raises(cozefallback.ApiError) as info:
            client.websocket("/v1/chat", {"bot_id": mock.bot})
    err = info.value
    assert (err.kind, err.http_status, err.credential, err.attempts) == ("api", 403, "personal", 1)
    assert [s["credential"] for s in sessions(mock)] == ["personal"], "the enterprise credential must not be tried"


def test_a_break_after_the_first_event_is_stream_interrupted_with_no_replay(mock: Mock) -> None:
    mock.state({"faults": [{"path": "/v1/chat", "action": {"type": "truncate_stream", "after_events": 2}}]})
    with cozefallback.Client(mock.pat_config()) as client, client.websocket("/v1/chat", {"bot_id": mock.bot}) as ws:
        for sent in chat_events():
            ws.send(sent)
        got: List[str] = []
        with pytest.raises(cozefallback.StreamInterruptedError) as info:
            for event in ws:
                assert isinstance(event, dict)
                got.append(event["event_type"])
        assert got == ["chat.created", "chat.updated"]
        assert info.value.events_delivered == 2 and ws.events_delivered == 2
        assert list(ws) == [], "a broken session stays ended"
    assert len(sessions(mock)) == 1


def test_a_server_close_code_is_surfaced(mock: Mock) -> None:
    mock.state(
        {"faults": [{"path": "/v1/chat", "action": {"type": "close_session", "after_events": 1, "code": 1011}}]}
    )
    with cozefallback.Client(mock.pat_config()) as client, client.websocket("/v1/chat", {"bot_id": mock.bot}) as ws:
        ws.send(chat_events()[0])
        with pytest.raises(cozefallback.StreamInterruptedError, match="1011"):
            for _ in ws:
                pass
        assert ws.close_code == 1011


def test_speech_sends_text_and_gets_audio(mock: Mock) -> None:
    with cozefallback.Client(mock.pat_config()) as client, client.websocket("/v1/audio/speech") as ws:
        ws.send({"id": "1", "event_type": "input_text_buffer.append", "data": {"delta": "hello world"}})
        ws.send({"id": "2", "event_type": "input_text_buffer.complete"})
        names = []
        for event in ws:
            assert isinstance(event, dict)
            names.append(event["event_type"])
            if event["event_type"] == "speech.audio.completed":
                break
        assert names[0] == "speech.created" and names[-1] == "speech.audio.completed"
        assert names.count("speech.audio.update") == 3  # one per 4 bytes of text


def test_binary_frames_reach_the_server(mock: Mock) -> None:
    with cozefallback.Client(mock.pat_config()) as client, client.websocket("/v1/audio/transcriptions") as ws:
        first = next(ws)
        assert isinstance(first, dict) and first["event_type"] == "transcriptions.created"
        ws.send_binary(b"\x00\x01\x02\x03")
        ws.send({"id": "x", "event_type": "input_audio_buffer.complete"})
        for event in ws:
            if isinstance(event, dict) and event["event_type"] == "transcriptions.message.completed":
                break
    received = sessions(mock)[0]["received"]
    assert "binary" in received[0] and received[1]["id"] == "x", received


def test_bad_input_is_refused_clearly(mock: Mock) -> None:
    with cozefallback.Client(mock.pat_config()) as client:
        with client.websocket("/v1/chat", {"bot_id": mock.bot}) as ws:
            # The core decides what an event is: a JSON object.
            with pytest.raises(cozefallback.InvalidArgumentError, match="JSON object.*got a string"):
                ws.send("chat.update")  # type: ignore[arg-type]
            with pytest.raises(cozefallback.InvalidArgumentError, match="JSON object"):
                ws.send([{"event_type": "chat.update"}])  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="bytes"):
                ws.send_binary("text")  # type: ignore[arg-type]
            # Not JSON: the library's own error (also a ValueError), naming where it is.
            with pytest.raises(cozefallback.InvalidArgumentError, match=r'json\["data"\] is of type object'):
                ws.send({"event_type": "chat.update", "data": object()})
        with pytest.raises(cozefallback.ApiError):
            client.websocket("/v1/not-realtime")
    with pytest.raises(cozefallback.InvalidArgumentError, match="closed"):
        client.websocket("/v1/chat", {"bot_id": mock.bot})


def test_client_close_ends_a_waiting_session_and_the_gil_is_released(mock: Mock) -> None:
    mock.state({"faults": [{"path": "/v1/chat", "action": {"type": "slow_stream", "gap_ms": 5000}}]})
    client = cozefallback.Client(mock.pat_config(timeouts={"idle_ms": 10000}))
    ws = client.websocket("/v1/chat", {"bot_id": mock.bot})
    raised: List[BaseException] = []
    ended = threading.Event()

    def read() -> None:
        try:
            next(ws)
        except BaseException as e:  # noqa: BLE001 - the test looks at it
            raised.append(e)
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # While the reader waits, this thread keeps running Python code: the wait holds no GIL.
    spins = 0
    until = time.monotonic() + 0.3
    while time.monotonic() < until:
        spins += 1
    assert spins > 1000 and not ended.is_set(), "the mock should keep the session silent"
    client.close()
    assert ended.wait(1.0), "the waiting session did not end within 1 s of client.close()"
    assert len(raised) == 1 and isinstance(raised[0], cozefallback.CancelledError), raised
    ws.close()


def test_async_sessions_before_and_after_the_move(mock: Mock) -> None:
    async def chat(client: cozefallback.AsyncClient) -> cozefallback.AsyncWebSocketSession:
        async with client.websocket("/v1/chat", {"bot_id": mock.bot}) as ws:
            for sent in chat_events():
                await ws.send(sent)
            names = []
            async for event in ws:
                assert isinstance(event, dict)
                names.append(event["event_type"])
                if event["event_type"] == "conversation.chat.completed":
                    break
            assert names == CHAT_EVENTS
        return ws

    async def main() -> None:
        async with cozefallback.AsyncClient(mock.pat_config()) as client:
            before = await chat(client)
            assert (before.credential, before.attempts) == ("personal", 1)
            assert [e async for e in before] == [], "async with closed it"
            mock.state({"moved": True})
            after = await chat(client)
            assert (after.credential, after.attempts) == ("enterprise", 2)
            # `await` opens the session (the handshake and its errors) before any event is read.
            opened = await client.websocket("/v1/chat", {"bot_id": mock.bot})
            assert opened.credential == "enterprise"
            await opened.close()
            with pytest.raises(RuntimeError, match="not open"):
                _ = client.websocket("/v1/chat").credential

    asyncio.run(main())
    got = sessions(mock)
    assert [(s["credential"], s["outcome"]) for s in got[:3]] == [
        ("personal", "upgraded"),
        ("personal", "refused"),
        ("enterprise", "upgraded"),
    ]
    assert [r["id"] for r in got[2]["received"]] == ["e1", "e2"]


def test_async_403_without_code_and_close_cancelling(mock: Mock) -> None:
    async def main() -> None:
        client = cozefallback.AsyncClient(mock.pat_config(timeouts={"idle_ms": 10000}))
        mock.state(
            {
                "faults": [
                    {"path": "/v1/chat", "credential": "personal", "times": 1, "action": {"type": "http", "http_status": 403, "body": "Forbidden"}}
                ]
            }
        )
        with pytest.raises(cozefallback.ApiError) as info:
            async with client.websocket("/v1/chat", {"bot_id": mock.bot}):
                pass
        assert (info.value.http_status, info.value.credential, info.value.attempts) == (403, "personal", 1)
        mock.state({"faults": [{"path": "/v1/chat", "action": {"type": "slow_stream", "gap_ms": 5000}}]})
        ws = await client.websocket("/v1/chat", {"bot_id": mock.bot})
        waiting = asyncio.ensure_future(ws.__anext__())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        started = time.monotonic()
        await client.close()
        with pytest.raises(cozefallback.CancelledError):
            await asyncio.wait_for(waiting, 1.0)
        assert time.monotonic() - started < 1.0
        await ws.close()

    asyncio.run(main())


def test_send_from_one_thread_while_another_waits_in_next(mock: Mock) -> None:
    with cozefallback.Client(mock.pat_config()) as client, client.websocket("/v1/chat", {"bot_id": mock.bot}) as ws:
        names: List[str] = []
        first = threading.Event()

        def read() -> None:
            for event in ws:
                assert isinstance(event, dict)
                names.append(event["event_type"])
                first.set()
                if event["event_type"] == "conversation.chat.completed":
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        ws.send(chat_events()[0])
        assert first.wait(5.0), "no first event"
        time.sleep(0.1)  # the reader is now blocked in next(), holding no GIL and no send lock
        ws.send(chat_events()[1])
        reader.join(5.0)
        assert not reader.is_alive() and names == CHAT_EVENTS
