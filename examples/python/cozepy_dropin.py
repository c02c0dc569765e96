"""Keep the official SDK (cozepy) and its typed API; route every call through the fallback.

cozepy holds a dummy token: the transport sets the Authorization header of the credential that works.
"""

from __future__ import annotations

import os
import sys

import cozepy
import httpx

import cozefallback

BOT_ID = os.environ.get("COZE_BOT_ID", "7350000000000000001")


def main() -> int:
    client = cozefallback.Client.from_env()
    coze = cozepy.Coze(
        auth=cozepy.TokenAuth("unused"),
        base_url=client.base_url,
        # cozepy annotates its own httpx.Client subclass; any httpx.Client works at run time.
        http_client=httpx.Client(transport=cozefallback.HTTPTransport(client)),  # type: ignore[arg-type]
    )
    for event in coze.chat.stream(
        bot_id=BOT_ID, user_id="dropin", additional_messages=[cozepy.Message.build_user_question_text("hi")]
    ):
        if event.event == cozepy.ChatEventType.CONVERSATION_MESSAGE_DELTA and event.message is not None:
            print(event.message.content, end="")
    print()
    print("served by:", client.metrics()["requests"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
