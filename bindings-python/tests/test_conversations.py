"""Conversations started before the move keep working after it (docs/CONVERSATIONS.md), as a Python user sees it:
ConversationStrandedError and its attributes, `conversation_moved` on responses and streams, the
`on_conversation_moved` hook (also a raising one), `map_conversation` after a restart, the config keys."""

from __future__ import annotations

import asyncio
import pickle
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

import pytest

import cozefallback
from conftest import Mock

Call = Tuple[str, str, int]


def chat(mock: Mock, text: str, stream: bool = False) -> Dict[str, Any]:
    body = mock.chat_body(stream=stream)
    body["additional_messages"][0]["content"] = text
    return body


def strand(client: cozefallback.Client, mock: Mock) -> str:
    """Starts a conversation with the personal credential (2 questions, 4 messages), then moves the workspace."""
    first = client.post("/v3/chat", json=chat(mock, "hello before the move"))
    assert first.credential == "personal"
    conv: str = first.json()["data"]["conversation_id"]
    client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "second question"))
    mock.state({"moved": True})
    return conv


def by_path(mock: Mock, path: str) -> int:
    n: int = mock.stats()["requests"]["by_path"].get(path, 0)
    return n


def run_bounded(fn: Any, seconds: float = 30) -> Any:
    """Runs `fn` on a thread and fails (instead of hanging the suite) if it does not return in time."""
    result: List[Any] = []
    errors: List[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            errors.append(e)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"the call did not return within {seconds} s (deadlock?)"
    if errors:
        raise errors[0]
    return result[0]


# ---------------------------------------------------------------- the error


def test_stranded_error_class_and_attributes(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config(conversations={"on_stranded": "error"}))
    conv = strand(client, mock)
    with pytest.raises(cozefallback.CozeError) as info:
        client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "after the move"))
    err = info.value
    assert type(err) is cozefallback.ConversationStrandedError
    assert isinstance(err, cozefallback.CozeError) and not isinstance(err, cozefallback.ApiError)
    assert issubclass(cozefallback.ConversationStrandedError, cozefallback.CozeError)
    assert err.kind == "conversation_stranded"
    assert err.conversation_id == conv
    assert err.file_id is None
    assert err.conversation_owner == "personal"
    assert err.bot_credential == "enterprise"
    assert "on_stranded" in str(err) and conv in str(err)
    assert isinstance(err.previous, cozefallback.ApiError) and err.previous.code == 4101
    assert f"conversation_id={conv!r}" in repr(err)
    # It pickles with everything it names (e.g. to a worker process).
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cozefallback.ConversationStrandedError
    assert (back.conversation_id, back.conversation_owner, back.bot_credential, str(back)) == (
        conv, "personal", "enterprise", str(err))
    # Nothing was created for it.
    assert by_path(mock, "/v1/conversation/create") == 0


def test_stranded_file_names_the_file(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    file_id = client.upload("/v1/files/upload", b"hello", filename="a.txt").json()["data"]["id"]
    mock.state({"moved": True})
    body = mock.chat_body()
    body["additional_messages"] = [
        {"role": "user", "content": f'[{{"type":"file","file_id":"{file_id}"}}]', "content_type": "object_string"}
    ]
    with pytest.raises(cozefallback.ConversationStrandedError) as info:
        client.post("/v3/chat", json=body)
    err = info.value
    assert err.file_id == file_id
    assert (err.conversation_owner, err.bot_credential) == ("personal", "enterprise")
    assert "upload the file again" in str(err)


def test_other_errors_name_no_conversation(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    with pytest.raises(cozefallback.ApiError) as info:
        client.get("/v1/bots/7359999999999999999")
    err = info.value
    assert (err.conversation_id, err.file_id, err.conversation_owner, err.bot_credential) == (None, None, None, None)


# ---------------------------------------------------------------- conversation_moved


def test_response_reports_the_move(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    conv = strand(client, mock)
    r = client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "after the move"))
    assert r.credential == "enterprise"
    moved = r.conversation_moved
    assert isinstance(moved, cozefallback.ConversationMoved)
    assert moved.from_ == moved["from"] == conv
    assert moved.to == moved["to"] != conv and moved.to
    assert moved.messages_copied == moved["messages_copied"] == 4
    assert dict(moved) == {"from": conv, "to": moved.to, "messages_copied": 4}
    assert moved == {"from": conv, "to": moved.to, "messages_copied": 4}
    assert r.json()["data"]["conversation_id"] == moved.to
    assert repr(moved) == f"ConversationMoved(from_={conv!r}, to={moved.to!r}, messages_copied=4)"
    assert "conversation_moved=" in repr(r)
    assert pickle.loads(pickle.dumps(moved)) == moved
    with pytest.raises(KeyError):
        moved["from_"]
    with pytest.raises(AttributeError):
        moved.to = "x"  # type: ignore[misc]
    assert client.mapped_conversation(conv) == moved.to
    # The next call naming the old id goes straight to the new one and reports no move.
    again = client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "and again"))
    assert (again.credential, again.attempts, again.conversation_moved) == ("enterprise", 1, None)
    assert again.json()["data"]["conversation_id"] == moved.to
    metrics = client.metrics()
    assert "conversations_carried_over_total" in str(metrics)


def test_plain_calls_report_no_move(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    r = client.get(f"/v1/bots/{mock.bot}")
    assert r.conversation_moved is None
    with client.stream("POST", "/v3/chat", json=chat(mock, "hi", stream=True)) as s:
        assert s.conversation_moved is None
        assert [e.event for e in s][-1] == "done"


def test_stream_reports_the_move_before_the_first_event(mock: Mock) -> None:
    calls: List[Call] = []
    client = cozefallback.Client(mock.pat_config(), on_conversation_moved=lambda *a: calls.append(a))
    conv = strand(client, mock)
    stream = client.stream("POST", "/v3/chat", query={"conversation_id": conv}, json=chat(mock, "s", stream=True))
    with stream:
        # Known as soon as the stream is open, and the hook already ran: nothing has been read yet.
        moved = stream.conversation_moved
        assert moved is not None and moved.from_ == conv and moved.messages_copied == 4
        assert calls == [(conv, moved.to, 4)]
        assert "conversation_moved=" in repr(stream)
        events = list(stream)
    assert stream.credential == "enterprise"
    # The first event the caller sees is already the new conversation's.
    assert events[0].event == "conversation.chat.created"
    assert events[0].json()["conversation_id"] == moved.to
    assert events[-1].event == "done"


def test_async_stream_reports_the_move_once_open(mock: Mock) -> None:
    sync = cozefallback.Client(mock.pat_config())
    conv = strand(sync, mock)

    async def run() -> Tuple[Optional[cozefallback.ConversationMoved], List[str], str]:
        async with cozefallback.AsyncClient(mock.pat_config()) as client:
            stream = client.stream("POST", "/v3/chat", query={"conversation_id": conv}, json=chat(mock, "s", True))
            with pytest.raises(RuntimeError):
                stream.conversation_moved  # not open yet
            async with stream as s:
                moved = s.conversation_moved
                names = [e.event async for e in s]
            r = await client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "again"))
            assert r.conversation_moved is None and r.attempts == 1
            return moved, names, r.credential

    moved, names, credential = asyncio.run(asyncio.wait_for(run(), 60))
    assert moved is not None and moved.from_ == conv and moved.to != conv
    assert names[0] == "conversation.chat.created" and names[-1] == "done"
    assert credential == "enterprise"


# ---------------------------------------------------------------- the hook


def test_hook_gets_three_positional_args_after_the_mapping(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    seen: List[Tuple[Call, Optional[str], str]] = []

    def hook(from_: str, to: str, messages_copied: int, /) -> None:
        # The mapping is in place when the hook runs, and calling the client from it (even a blocking request)
        # does not deadlock.
        assert client.get(f"/v1/bots/{mock.bot}").status == 200
        seen.append(((from_, to, messages_copied), client.mapped_conversation(from_), threading.current_thread().name))

    assert client.on_conversation_moved(hook) is hook  # the decorator form hands the function back
    conv = strand(client, mock)
    r = run_bounded(lambda: client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "x")))
    assert r.conversation_moved is not None
    to = r.conversation_moved.to
    assert len(seen) == 1
    (args, mapped, thread) = seen[0]
    assert args == (conv, to, 4)
    assert mapped == to
    assert thread != threading.main_thread().name  # a library thread, with the GIL taken for the call


def test_a_raising_hook_is_reported_and_the_call_goes_on(mock: Mock, monkeypatch: pytest.MonkeyPatch) -> None:
    reported: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    def hook(from_: str, to: str, messages_copied: int) -> None:
        raise ValueError(f"the app's store is down ({from_})")

    client = cozefallback.Client(mock.pat_config(), on_conversation_moved=hook)
    conv = strand(client, mock)
    r = run_bounded(lambda: client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "x")))
    assert r.credential == "enterprise" and r.conversation_moved is not None
    assert len(reported) == 1
    assert isinstance(reported[0].exc_value, ValueError) and conv in str(reported[0].exc_value)
    assert reported[0].object is hook
    # The mapping was kept: the next call is one round trip to the new conversation.
    again = run_bounded(lambda: client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "y")))
    assert (again.attempts, again.conversation_moved) == (1, None)


class _Exit:
    def __call__(self, from_: str, to: str, messages_copied: int) -> None:
        raise SystemExit(3)


def _interrupt(from_: str, to: str, messages_copied: int) -> None:
    raise KeyboardInterrupt


def _no_args() -> None:
    pass


@pytest.mark.parametrize("hook, raised", [(_Exit(), SystemExit), (_interrupt, KeyboardInterrupt), (_no_args, TypeError)],
                         ids=["SystemExit", "KeyboardInterrupt", "wrong-arity"])
def test_hostile_hooks_neither_kill_nor_hang(mock: Mock, monkeypatch: pytest.MonkeyPatch, hook: Any, raised: type) -> None:
    """Even SystemExit, KeyboardInterrupt or a hook that takes no arguments only gets reported."""
    reported: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    client = cozefallback.Client(mock.pat_config(), on_conversation_moved=hook)
    conv = strand(client, mock)
    r = run_bounded(lambda: client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "x")))
    assert r.conversation_moved is not None and r.conversation_moved.from_ == conv
    assert [type(u.exc_value) for u in reported] == [raised]


def test_a_raising_hook_on_the_async_client(mock: Mock, monkeypatch: pytest.MonkeyPatch) -> None:
    reported: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    sync = cozefallback.Client(mock.pat_config())
    conv = strand(sync, mock)

    def hook(from_: str, to: str, messages_copied: int) -> None:
        raise RuntimeError("boom")

    async def run() -> cozefallback.Response:
        async with cozefallback.AsyncClient(mock.pat_config(), on_conversation_moved=hook) as client:
            # Keep the loop busy meanwhile: the hook must still get the GIL.
            ticker = asyncio.ensure_future(asyncio.sleep(0.3))
            r = await client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "x"))
            await ticker
            return r

    r = asyncio.run(asyncio.wait_for(run(), 60))
    assert r.conversation_moved is not None and r.conversation_moved.from_ == conv
    assert [type(u.exc_value) for u in reported] == [RuntimeError]


def test_hook_none_removes_it_and_a_non_callable_is_refused(mock: Mock) -> None:
    calls: List[Call] = []
    client = cozefallback.Client(mock.pat_config(), on_conversation_moved=lambda *a: calls.append(a))
    client.set_conversation_hook(None)
    with pytest.raises(TypeError, match="callable"):
        client.set_conversation_hook(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        cozefallback.Client(mock.pat_config(), on_conversation_moved="not a function")  # type: ignore[arg-type]
    conv = strand(client, mock)
    r = client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "x"))
    assert r.conversation_moved is not None
    assert calls == []


# ---------------------------------------------------------------- map_conversation


def test_map_conversation_after_a_restart(mock: Mock) -> None:
    """The app stores the new id from the hook; after a restart it preloads it and the old id keeps working."""
    store: Dict[str, str] = {}
    first = cozefallback.Client(mock.pat_config(), on_conversation_moved=lambda f, t, n: store.__setitem__(f, t))
    conv = strand(first, mock)
    first.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "after the move"))
    first.close()
    assert conv in store
    creates = by_path(mock, "/v1/conversation/create")

    restarted = cozefallback.Client(mock.pat_config())
    assert restarted.mapped_conversation(conv) is None
    for old, new in store.items():
        restarted.map_conversation(old, new)
    assert restarted.mapped_conversation(conv) == store[conv]
    listed = by_path(mock, "/v1/conversation/message/list")
    r = restarted.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "after the restart"))
    # A restarted client has no route for the bot yet: personal_first may try personal once, never more.
    assert (r.credential, r.conversation_moved) == ("enterprise", None) and r.attempts <= 2
    assert r.json()["data"]["conversation_id"] == store[conv]
    # Nothing carried again: no new conversation, no listing, no probe.
    assert by_path(mock, "/v1/conversation/create") == creates
    assert by_path(mock, "/v1/conversation/message/list") == listed
    assert by_path(mock, "/v1/conversation/retrieve") == 0


def test_map_conversation_on_the_async_client(mock: Mock) -> None:
    sync = cozefallback.Client(mock.pat_config())
    conv = strand(sync, mock)
    new = sync.post("/v1/conversation/create", json={"bot_id": mock.bot}).json()["data"]["id"]
    creates = by_path(mock, "/v1/conversation/create")

    async def run() -> cozefallback.Response:
        async with cozefallback.AsyncClient(mock.pat_config()) as client:
            client.map_conversation(conv, new)
            return await client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "x"))

    r = asyncio.run(asyncio.wait_for(run(), 60))
    assert (r.credential, r.conversation_moved) == ("enterprise", None) and r.attempts <= 2
    assert r.json()["data"]["conversation_id"] == new
    assert by_path(mock, "/v1/conversation/create") == creates  # nothing carried


@pytest.mark.parametrize(
    "from_, to, names",
    [("", "7480000000000000002", "`from`"), ("7480000000000000001", " ", "`to`"),
     ("7480000000000000001", "7480000000000000001", "the same id")],
)
def test_map_conversation_bad_input(mock: Mock, from_: str, to: str, names: str) -> None:
    client = cozefallback.Client(mock.pat_config())
    with pytest.raises(cozefallback.InvalidArgumentError) as info:
        client.map_conversation(from_, to)
    assert names in str(info.value) and "map_conversation" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_map_conversation_wrong_types_and_closed_client(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    with pytest.raises(TypeError, match="`from_` must be a conversation id .* not int"):
        client.map_conversation(7480000000000000001, "7480000000000000002")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`to` must be a conversation id"):
        client.map_conversation("7480000000000000001", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="from_"):
        client.mapped_conversation(b"7480000000000000001")  # type: ignore[arg-type]
    client.close()
    with pytest.raises(cozefallback.InvalidArgumentError, match="closed"):
        client.map_conversation("7480000000000000001", "7480000000000000002")
    with pytest.raises(cozefallback.InvalidArgumentError, match="closed"):
        client.set_conversation_hook(None)


# ---------------------------------------------------------------- config


def test_conversations_config_keys(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config(conversations={"on_stranded": "new", "carry_over_messages": 0}))
    conv = strand(client, mock)
    r = client.post("/v3/chat", query={"conversation_id": conv}, json=chat(mock, "x"))
    assert r.conversation_moved is not None and r.conversation_moved.messages_copied == 0
    assert by_path(mock, "/v1/conversation/message/list") == 0


@pytest.mark.parametrize(
    "section, field",
    [({"carry_over_messages": 51}, "conversations.carry_over_messages"),
     ({"on_stranded": "keep"}, "conversations"),
     ({"carry_over": 3}, "conversations")],
)
def test_conversations_config_errors(mock: Mock, section: Dict[str, Any], field: str) -> None:
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.Client(mock.pat_config(conversations=section))
    assert field in str(info.value)

