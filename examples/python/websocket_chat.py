"""A realtime (WebSocket) chat with a bot, with the credential fallback: the equivalent of cozepy's websocket chat
example (`coze.websockets.chat.create(bot_id=..., on_event=handler)`), whose WebSocket client takes no transport
hook, on cozefallback's own session API. Handlers are looked up by `event_type`, as cozepy's `on_...` methods are.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Callable, Dict, List

import cozefallback

BOT_ID = os.environ.get("COZE_BOT_ID", "7350000000000000001")

Handler = Callable[[Dict[str, Any]], None]


def chat_events(text: str) -> List[Dict[str, Any]]:
    """What cozepy's `chat_update(...)` and `conversation_message_create(...)` send."""
    return [
        {"id": "1", "event_type": "chat.update", "data": {"chat_config": {"user_id": "ws-example", "auto_save_history": True}}},
        {
            "id": "2",
            "event_type": "conversation.message.create",
            "data": {"role": "user", "content_type": "text", "content": text},
        },
    ]


def handlers(reply: List[str]) -> Dict[str, Handler]:
    def on_delta(event: Dict[str, Any]) -> None:
        reply.append(event["data"]["content"])

    def on_completed(event: Dict[str, Any]) -> None:
        print("chat completed, logid", event["detail"]["logid"])

    def on_error(event: Dict[str, Any]) -> None:
        raise SystemExit(f"error event: {event['data']}")

    return {"conversation.message.delta": on_delta, "conversation.chat.completed": on_completed, "error": on_error}


def sync_chat(client: cozefallback.Client) -> str:
    reply: List[str] = []
    on_event = handlers(reply)
    with client.websocket("/v1/chat", {"bot_id": BOT_ID}) as ws:
        for event in chat_events("hi"):
            ws.send(event)
        for received in ws:  # until the server closes, or we stop
            if isinstance(received, bytes):
                continue  # audio, where the API sends binary frames
            handler = on_event.get(received["event_type"])
            if handler:
                handler(received)
            if received["event_type"] == "conversation.chat.completed":
                break
        print(f"sync: {ws.events_delivered} events via the {ws.credential} credential ({ws.attempts} handshake(s))")
    return "".join(reply)


async def async_chat(client: cozefallback.AsyncClient) -> str:
    reply: List[str] = []
    on_event = handlers(reply)
    async with client.websocket("/v1/chat", {"bot_id": BOT_ID}) as ws:
        for event in chat_events("hi"):
            await ws.send(event)
        async for received in ws:
            if isinstance(received, bytes):
                continue
            handler = on_event.get(received["event_type"])
            if handler:
                handler(received)
            if received["event_type"] == "conversation.chat.completed":
                break
        print(f"async: {ws.events_delivered} events via the {ws.credential} credential")
    return "".join(reply)


async def run_async() -> str:
    async with cozefallback.AsyncClient.from_env() as client:
        return await async_chat(client)


def main() -> int:
    with cozefallback.Client.from_env() as client:
        print("bot said:", sync_chat(client))
    print("bot said:", asyncio.run(run_async()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
