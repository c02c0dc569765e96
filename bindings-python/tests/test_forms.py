"""The serialised forms of docs/FORMS.md as Python sees them: every key of the core's error JSON is an attribute of
the exception, same name, with its value for a real failure; response and stream metadata come from the core's
meta; the httpx transports' stream bytes are the core's SSE framing."""

from __future__ import annotations

import asyncio
import json
import pickle
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import cozefallback
from cozefallback import _aio
from conftest import Mock

MISSING_BOT = "/v1/bots/7350000000000000777"
FORMS_RS = Path(__file__).resolve().parents[2] / "core" / "src" / "forms.rs"


def core_error_keys() -> List[str]:
    """ERROR_JSON_KEYS as the core declares it, so a key the core adds fails these tests until it is mapped."""
    found = re.search(r"pub const ERROR_JSON_KEYS: &\[&str\] = &\[(.*?)\];", FORMS_RS.read_text(), re.S)
    assert found, f"ERROR_JSON_KEYS not found in {FORMS_RS}"
    return re.findall(r'"([a-z_]+)"', found.group(1))


def header(pairs: List[Any], name: str) -> Optional[str]:
    return next((v for k, v in pairs if k.lower() == name), None)


def expected_api_error(err: cozefallback.CozeError, credential: str, attempts: int) -> Dict[str, Any]:
    """What each key must hold for "the bot exists with neither credential", from the failed answer itself."""
    assert err.response is not None, "an API error carries the failed answer"
    status, headers, body = err.response
    answer = json.loads(body)
    return {
        "kind": "api",
        "message": str(err),
        "code": answer["code"],
        "coze_message": answer["msg"],
        "http_status": status,
        "logid": header(headers, "x-tt-logid"),
        "credential": credential,
        "attempts": attempts,
        "field": None,
        "authorize_url": None,
        "oauth_error": None,
        "events_delivered": 0,
        "conversation_id": None,
        "file_id": None,
        "conversation_owner": None,
        "bot_credential": None,
        "response": err.response,
        "previous": err.previous,
    }


def assert_every_key(err: cozefallback.CozeError, expected: Dict[str, Any], keys: List[str]) -> None:
    assert sorted(expected) == sorted(keys), "the expectation must name exactly the core's keys"
    for key in keys:
        assert key in vars(err), f"err.{key} (core key {key}) was not set from the native error"
        assert getattr(err, key) == expected[key], key


def test_every_key_of_the_error_json_is_an_attribute_with_its_value(mock: Mock) -> None:
    keys = core_error_keys()
    assert keys[:2] == ["kind", "message"] and "previous" in keys and len(keys) >= 18
    client = cozefallback.Client(mock.pat_config())
    try:
        client.get(MISSING_BOT)
    except cozefallback.ApiError as e:
        err = e
    else:
        raise AssertionError("the bot exists with neither credential: the call must fail")
    assert_every_key(err, expected_api_error(err, "enterprise", 2), keys)
    # The facts the test is about are really there, not None on both sides.
    assert err.code == 4200 and err.coze_message and err.logid and err.http_status == 200
    assert err.msg == err.coze_message  # the cozepy-style alias
    assert isinstance(err.previous, cozefallback.ApiError)
    assert_every_key(err.previous, expected_api_error(err.previous, "personal", 1), keys)
    assert err.previous.previous is None
    # Every attribute survives pickling.
    back = pickle.loads(pickle.dumps(err))
    for key in keys:
        if key != "previous":
            assert getattr(back, key) == getattr(err, key), key
    assert back.previous is not None and back.previous.coze_message == err.previous.coze_message
    # No token in anything the error shows or carries.
    shown = " ".join(str(getattr(err, k)) for k in keys) + repr(err) + repr(err.previous)
    for cred in ("personal", "enterprise"):
        assert mock.pat_config()[cred]["token"] not in shown


def test_a_binding_level_error_has_every_attribute(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    client.close()
    try:
        client.get("/v1/bots/x")
    except cozefallback.InvalidArgumentError as e:
        err = e
    else:
        raise AssertionError("a closed client must refuse")
    assert err.kind == "invalid_argument" and err.message == "the client is closed" and err.msg == err.message
    for key in core_error_keys():
        assert hasattr(err, key), key
    assert err.attempts == 0 and err.code is None and err.coze_message is None and err.previous is None


def test_response_and_stream_metadata(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    r = client.get(f"/v1/bots/{mock.bot}")
    assert (r.status, r.credential, r.attempts) == (200, "personal", 1)
    assert r.logid and r.logid == r.headers["x-tt-logid"]
    assert r.conversation_moved is None
    with client.stream("POST", "/v3/chat", json=mock.chat_body(stream=True)) as s:
        assert (s.status, s.credential, s.attempts) == (200, "personal", 1)
        assert s.logid and s.logid == s.headers["x-tt-logid"]
        assert s.conversation_moved is None
        assert len(list(s)) > 1


def parse_sse(raw: bytes) -> List[Any]:
    """A small SSE reader (the test's own) to check what the core framed."""
    events = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block:
            continue
        fields: Dict[str, Any] = {"id": None, "data": []}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            if name == "data":
                fields["data"].append(value)
            else:
                fields[name] = value
        events.append((fields["event"], "\n".join(fields["data"]), fields["id"]))
    return events


def masked(events: List[Any]) -> List[Any]:
    """The mock's ids and times differ per chat."""
    return [tuple(re.sub(r"\d{6,}", "N", x) if isinstance(x, str) else x for x in ev) for ev in events]


def test_next_sse_frames_the_same_events_as_next_sync_and_async(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    native = client._native
    body = mock.chat_body(stream=True)
    plain = native.request("POST", "/v3/chat", json=body, stream=True)
    events = []
    while (ev := plain.next()) is not None:
        events.append((ev.event, ev.data, ev.id))
    framed = native.request("POST", "/v3/chat", json=body, stream=True)
    frames: List[bytes] = []
    while (frame := framed.next_sse()) is not None:
        assert isinstance(frame, bytes) and frame.endswith(b"\n\n") and b"event:" in frame
        frames.append(frame)
    assert framed.next_sse() is None  # stays at the end
    assert len(frames) == len(events) > 1
    assert masked(parse_sse(b"".join(frames))) == masked(events)

    async def read_async() -> List[bytes]:
        s = await _aio.call(native.request, "POST", "/v3/chat", json=body, stream=True)
        out = []
        while (f := await _aio.call(s.next_sse)) is not None:
            out.append(f)
        return out

    assert masked(parse_sse(b"".join(asyncio.run(read_async())))) == masked(events)
