"""cozefallback on asyncio: concurrent calls, streaming with `async for`, and a timeout by cancellation."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import List

import cozefallback

BOT_ID = os.environ.get("COZE_BOT_ID", "7350000000000000001")


async def main() -> int:
    async with cozefallback.AsyncClient.from_env() as client:
        responses: List[cozefallback.Response] = await asyncio.gather(
            *(client.get(f"/v1/bots/{BOT_ID}") for _ in range(20))
        )
        print("20 concurrent calls served by", sorted({r.credential for r in responses}))

        body = {
            "bot_id": BOT_ID,
            "user_id": "async-example",
            "stream": True,
            "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}],
        }
        async with client.stream("POST", "/v3/chat", json=body) as events:
            count = 0
            async for event in events:
                count += 1
                if event.event == "conversation.message.delta":
                    print("delta:", event.json()["content"])
            print(f"{count} events via the {events.credential} credential")

        try:
            await asyncio.wait_for(client.get("/v1/workspaces"), timeout=30)
        except asyncio.TimeoutError:
            print("gave up waiting; the call was cancelled")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
