"""cozefallback quickstart: one client, two credentials, the workspace moves mid-run, no call fails.

Configured from the environment like the official SDK (COZE_API_BASE, COZE_API_TOKEN for the personal PAT,
COZE_API_TOKEN_ENTERPRISE for the enterprise PAT). Run it against the mock:

    coze-mock --info-file /tmp/info.json &   # then export the three variables from it
    python examples/python/quickstart.py
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict

import cozefallback

BOT_ID = os.environ.get("COZE_BOT_ID", "7350000000000000001")


def chat_body(stream: bool) -> Dict[str, Any]:
    return {
        "bot_id": BOT_ID,
        "user_id": "quickstart",
        "stream": stream,
        "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}],
    }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    with cozefallback.Client.from_env() as client:
        bot = client.get(f"/v1/bots/{BOT_ID}")
        print(f"bot served by the {bot.credential} credential in {bot.attempts} attempt(s), logid {bot.logid}")

        with client.stream("POST", "/v3/chat", json=chat_body(stream=True)) as events:
            names = [event.event for event in events]
            print(f"chat stream via {events.credential}: {len(names)} events, last {names[-1]!r}")

        uploaded = client.upload("/v1/files/upload", b"hello from cozefallback", filename="hello.txt")
        print("uploaded file id", uploaded.json()["data"]["id"])

        try:
            client.get("/v1/bots/7350000000000000777")
        except cozefallback.ApiError as err:
            previous = err.previous.code if err.previous else None
            print(f"unknown bot: code {err.code} on {err.credential}, before that {previous}; logid {err.logid}")

        client.set_mode("enterprise_first")  # the cut-over switch, once the workspace has moved
        metrics = client.metrics()
        print("requests:", metrics["requests_total"], "fallbacks:", metrics["fallbacks_total"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
