"""The drop-in for the official SDK: the real cozepy (from PyPI) over cozefallback's httpx transports, against the
mock, before and after the workspace moves. cozepy holds a dummy token; the transport sets Authorization."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cozepy
import httpx
import pytest

import cozefallback
from conftest import Mock


def sync_coze(client: cozefallback.Client) -> cozepy.Coze:
    return cozepy.Coze(
        auth=cozepy.TokenAuth("unused"),
        base_url=client.base_url,
        http_client=httpx.Client(transport=cozefallback.HTTPTransport(client)),
    )


def exercise(coze: cozepy.Coze, mock: Mock, tmp_path: Path) -> None:
    chat = coze.chat.create(
        bot_id=mock.bot, user_id="user-1", additional_messages=[cozepy.Message.build_user_question_text("hi")]
    )
    assert chat.id and chat.conversation_id

    events = list(
        coze.chat.stream(
            bot_id=mock.bot, user_id="user-1", additional_messages=[cozepy.Message.build_user_question_text("hi")]
        )
    )
    kinds = [e.event for e in events]
    assert cozepy.ChatEventType.CONVERSATION_CHAT_CREATED in kinds
    assert cozepy.ChatEventType.CONVERSATION_CHAT_COMPLETED in kinds or cozepy.ChatEventType.DONE in kinds

    f = tmp_path / "note.txt"
    f.write_text("hello")
    uploaded = coze.files.upload(file=f)
    assert uploaded.id and uploaded.bytes == 5

    run = coze.workflows.runs.create(workflow_id=mock.info["workflow_id"], parameters={"q": "x"})
    assert run is not None

    wf_events = list(coze.workflows.runs.stream(workflow_id=mock.info["workflow_id"], parameters={"q": "x"}))
    assert any(e.event == cozepy.WorkflowEventType.MESSAGE for e in wf_events)
    assert not any(e.event == cozepy.WorkflowEventType.ERROR for e in wf_events)


def test_cozepy_keeps_working_across_the_move(mock: Mock, tmp_path: Path) -> None:
    client = cozefallback.Client(mock.pat_config())
    coze = sync_coze(client)
    exercise(coze, mock, tmp_path)
    before = mock.stats()["requests"]["by_credential"]
    assert before.get("enterprise", 0) == 0 and before["personal"] >= 5
    assert all(r["credential"] != "unauthenticated" for r in mock.stats()["log"])

    mock.state({"moved": True})
    exercise(coze, mock, tmp_path)
    after = mock.stats()["requests"]["by_credential"]
    assert after["enterprise"] >= 4  # chat, stream, workflow run + stream (files are not workspace resources)
    assert client.metrics()["fallbacks_total"] >= 1


def test_cozepy_sees_its_own_error_when_both_credentials_fail(mock: Mock) -> None:
    # The SDK gets the last failed answer as Coze sent it, so existing `except CozeAPIError` code keeps working.
    client = cozefallback.Client(mock.pat_config())
    coze = sync_coze(client)
    with pytest.raises(cozepy.CozeAPIError) as info:
        coze.bots.retrieve(bot_id="7350000000000000777")
    assert info.value.code == 4200
    assert info.value.logid
    assert client.metrics()["fallbacks"] == {"4200": 1}


def test_async_cozepy_keeps_working_across_the_move(mock: Mock, tmp_path: Path) -> None:
    async def run() -> None:
        client = cozefallback.AsyncClient(mock.pat_config())
        coze = cozepy.AsyncCoze(
            auth=cozepy.AsyncTokenAuth("unused"),
            base_url=client.base_url,
            http_client=httpx.AsyncClient(transport=cozefallback.AsyncHTTPTransport(client)),
        )
        for moved in (False, True):
            mock.state({"moved": moved})
            chat = await coze.chat.create(
                bot_id=mock.bot, user_id="u", additional_messages=[cozepy.Message.build_user_question_text("hi")]
            )
            assert chat.id
            kinds = []
            async for ev in coze.chat.stream(
                bot_id=mock.bot, user_id="u", additional_messages=[cozepy.Message.build_user_question_text("hi")]
            ):
                kinds.append(ev.event)
            assert cozepy.ChatEventType.CONVERSATION_CHAT_CREATED in kinds
            f = tmp_path / "a.txt"
            f.write_text("abc")
            up = await coze.files.upload(file=f)
            assert up.bytes == 3
            wf = []
            async for ev in coze.workflows.runs.stream(workflow_id=mock.info["workflow_id"], parameters={}):
                wf.append(ev.event)
            assert cozepy.WorkflowEventType.MESSAGE in wf and cozepy.WorkflowEventType.ERROR not in wf
            await coze.workflows.runs.create(workflow_id=mock.info["workflow_id"], parameters={})
        assert mock.stats()["requests"]["by_credential"]["enterprise"] >= 4

    asyncio.run(run())


def test_cozepy_chat_in_a_conversation_from_before_the_move(mock: Mock) -> None:
    """cozepy chats in a conversation started before the move keep working: the core carries it over, the hook
    tells the app, and the httpx response names the move."""
    calls = []
    client = cozefallback.Client(mock.pat_config(), on_conversation_moved=lambda *a: calls.append(a))
    moved_ext = []
    http = httpx.Client(
        transport=cozefallback.HTTPTransport(client),
        event_hooks={"response": [lambda r: moved_ext.append(r.extensions.get("cozefallback_conversation_moved"))]},
    )
    coze = cozepy.Coze(auth=cozepy.TokenAuth("unused"), base_url=client.base_url, http_client=http)
    question = [cozepy.Message.build_user_question_text("hi")]
    conv = coze.chat.create(bot_id=mock.bot, user_id="user-1", additional_messages=question).conversation_id
    mock.state({"moved": True})
    moved_ext.clear()
    chat = coze.chat.create(bot_id=mock.bot, user_id="user-1", additional_messages=question, conversation_id=conv)
    assert len(calls) == 1 and calls[0][0] == conv
    new = calls[0][1]
    assert chat.conversation_id == new
    assert moved_ext == [cozefallback.ConversationMoved(conv, new, calls[0][2])]
