"""The official Python SDK against coze-mock: a chat, a stream and a JWT token exchange."""
import json
import sys

import cozepy

info = json.load(open(sys.argv[1]))
base, bot = info["base_url"], info["bots"][0]
coze = cozepy.Coze(auth=cozepy.TokenAuth(info["personal_pat"]), base_url=base)

chat = coze.chat.create(bot_id=bot, user_id="u1", additional_messages=[cozepy.Message.build_user_question_text("hi")])
assert chat.conversation_id, chat
print("chat.create:", chat.id, chat.status)

events = [e.event for e in coze.chat.stream(bot_id=bot, user_id="u1", additional_messages=[cozepy.Message.build_user_question_text("hi")])]
assert cozepy.ChatEventType.CONVERSATION_CHAT_COMPLETED in events, events
print("chat.stream:", len(events), "events")

app = cozepy.JWTOAuthApp(client_id=info["jwt_client_id"], private_key=info["private_key_pem"], public_key_id=info["jwt_kid"], base_url=base)
token = app.get_access_token(ttl=900)
jwt_coze = cozepy.Coze(auth=cozepy.TokenAuth(token.access_token), base_url=base)
assert jwt_coze.bots.retrieve(bot_id=bot).bot_id == bot
print("JWT exchange: token valid until", token.expires_in)
print("3 passed, 0 failed")
