"""Every conformance scenario (tests/scenarios/*.json, tests/scenarios/websocket/*.json,
tests/scenarios/conversations/*.json and tests/scenarios/obo/*.json, globbed) through both the sync Client and the
AsyncClient.

Unknown step, request or expectation keys fail the scenario rather than being ignored; the keys of the conversation
and OBO scenarios (tests/scenarios/README.md, "Conversation scenarios", "OBO scenarios") are known in their folder
only. The OBO scenarios log in with the package's own OAuthApp (AsyncOAuthApp for the AsyncClient) and record the
client's refresh hook; token values are never printed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import cozefallback
from conftest import REPO, Mock

SCENARIOS = sorted((REPO / "tests" / "scenarios").glob("*.json"))
WS_SCENARIOS = sorted((REPO / "tests" / "scenarios" / "websocket").glob("*.json"))
CONV_SCENARIOS = sorted((REPO / "tests" / "scenarios" / "conversations").glob("*.json"))
OBO_SCENARIOS = sorted((REPO / "tests" / "scenarios" / "obo").glob("*.json"))
ALL_SCENARIOS = SCENARIOS + WS_SCENARIOS + CONV_SCENARIOS + OBO_SCENARIOS

PLACEHOLDERS = {
    "BASE_URL": "base_url",
    "PERSONAL_PAT": "personal_pat",
    "ENTERPRISE_PAT": "enterprise_pat",
    "JWT_CLIENT_ID": "jwt_client_id",
    "JWT_KID": "jwt_kid",
    "JWT_PRIVATE_KEY_FILE": "private_key_file",
    "JWT_PRIVATE_KEY": "private_key_pem",
    "ACCOUNT_ID": "account_id",
    "ENTERPRISE_ID": "enterprise_id",
    "OAUTH_CLIENT_ID": "oauth_client_id",
    "OAUTH_CLIENT_SECRET": "oauth_client_secret",
    "ENTERPRISE_BOT": "enterprise_bot",
    "WORKFLOW": "workflow_id",
    "WORKSPACE": "workspace_id",
}

STEP_KEYS = {
    "request", "stream", "upload", "websocket", "concurrent", "repeat", "set_mode", "mock", "sleep_ms", "expect", "save",
}
REQUEST_KEYS = {"method", "path", "query", "json", "headers"}
UPLOAD_KEYS = {"path", "filename", "content"}
WEBSOCKET_KEYS = {"path", "query", "send", "on", "until"}
ON_KEYS = {"event", "send"}
EXPECT_KEYS = {
    "status", "credential", "attempts", "json_code", "body_contains", "error", "events_min", "first_event",
    "last_event", "events_before_error", "elapsed_ms_min",
}
# Only a `websocket` step may expect these.
WS_EXPECT_KEYS = {"events", "close_code", "logid"}
ERROR_KEYS = {"kind", "code", "http_status", "previous_code", "previous_credential"}
SCENARIO_KEYS = {"name", "description", "mock", "config", "steps", "expect_mock", "expect_config_error"}
# Known in tests/scenarios/conversations only.
CONV_STEP_KEYS = {"map_conversation", "new_client", "save_moved_to"}
CONV_EXPECT_KEYS = {"conversation_moved", "data_len"}
CONV_ERROR_KEYS = {"conversation_id", "file_id", "conversation_owner", "bot_credential", "message_contains"}
CONV_SCENARIO_KEYS = {"expect_hook"}
# Known in tests/scenarios/obo only.
OBO_STEP_KEYS = {"fetch_token", "oauth_refresh"}
OBO_ERROR_KEYS = {"oauth_error", "authorize_url_contains"}
OBO_SCENARIO_KEYS = {"obo_login", "expect_refresh_hook"}
# Where every OBO login "redirects" (nothing listens: the mock hands out the code).
REDIRECT = "http://127.0.0.1:9/callback"
MOVED_KEYS = {"from", "to", "messages_copied"}
MOCK_EXPECT_KEYS = {
    "token_mints", "requests_by_credential", "by_path", "total_requests", "websocket_handshakes", "websocket_sessions",
}
WS_SESSION_KEYS = {"credential", "outcome", "status", "code", "pong", "received", "received_ids"}


def check_keys(obj: Any, allowed: set, what: str) -> None:  # type: ignore[type-arg]
    unknown = set(obj) - allowed if isinstance(obj, dict) else set()
    assert not unknown, f"unknown key(s) {sorted(unknown)} in {what}"


def variables(info: Dict[str, Any]) -> Dict[str, str]:
    v = {name: str(info[key]) for name, key in PLACEHOLDERS.items()}
    for i, bot in enumerate(info["bots"][:3]):
        v[f"BOT_{i + 1}"] = bot
    return v


def substitute(value: Any, vars: Dict[str, str]) -> Any:
    text = json.dumps(value)
    for name, val in vars.items():
        text = text.replace("${" + name + "}", json.dumps(val)[1:-1])
    return json.loads(text)


class Outcome:
    def __init__(self) -> None:
        self.status: Optional[int] = None
        self.credential: Optional[str] = None
        self.attempts: Optional[int] = None
        self.body: Optional[str] = None
        self.error: Optional[cozefallback.CozeError] = None
        self.events: List[cozefallback.Event] = []
        self.elapsed = 0.0
        # WebSocket steps only: whether this outcome is a session's, the server's close code, a known logid.
        self.websocket = False
        self.close_code: Optional[int] = None
        self.logid = False
        # What the response or the stream (before its first event) reported as carried over.
        self.moved: Optional[cozefallback.ConversationMoved] = None


def from_response(r: cozefallback.Response) -> Outcome:
    o = Outcome()
    o.status, o.credential, o.attempts, o.body = r.status, r.credential, r.attempts, r.text
    o.moved = r.conversation_moved
    return o


def from_error(e: cozefallback.CozeError) -> Outcome:
    o = Outcome()
    o.error, o.credential, o.attempts = e, e.credential, e.attempts
    return o


def request_args(spec: Dict[str, Any]) -> Dict[str, Any]:
    check_keys(spec, REQUEST_KEYS, "request")
    query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (spec.get("query") or {}).items()}
    return {"query": query or None, "json": spec.get("json"), "headers": spec.get("headers")}


def ws_spec(spec: Dict[str, Any]) -> Dict[str, Any]:
    check_keys(spec, WEBSOCKET_KEYS, "websocket")
    for rule in spec.get("on") or []:
        check_keys(rule, ON_KEYS, "websocket.on")
    return spec


def ws_query(spec: Dict[str, Any]) -> Optional[Dict[str, str]]:
    query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (spec.get("query") or {}).items()}
    return query or None


def ws_name(event: cozefallback.WsEvent) -> str:
    return "binary" if isinstance(event, bytes) else str(event.get("event_type"))


def ws_record(out: Outcome, event: cozefallback.WsEvent) -> str:
    """Appends the event to the outcome; answers its name."""
    name = ws_name(event)
    if isinstance(event, bytes):
        out.events.append(cozefallback.Event(name, ""))
    else:
        out.events.append(cozefallback.Event(name, json.dumps(event.get("data")), event.get("id")))
    return name


def ws_rules(spec: Dict[str, Any], name: str) -> List[Dict[str, Any]]:
    """The events the `on` rules send in answer to an event named `name`."""
    return [rule["send"] for rule in spec.get("on") or [] if rule["event"] == name]


def ws_result(out: Outcome, session: Any) -> None:
    out.websocket = True
    out.credential, out.attempts = session.credential, session.attempts
    out.close_code, out.logid = session.close_code, session.logid is not None


def ws_sync(client: cozefallback.Client, spec: Dict[str, Any]) -> Outcome:
    """Opens the session, sends `send` at once (held until the first event), reads until `until` or the end."""
    spec = ws_spec(spec)
    try:
        session = client.websocket(spec["path"], ws_query(spec))
    except cozefallback.CozeError as e:
        return from_error(e)
    out = Outcome()
    with session:
        try:
            for event in spec.get("send") or []:
                session.send(event)
            for received in session:
                for answer in ws_rules(spec, ws_name(received)):
                    session.send(answer)
                if ws_record(out, received) == spec.get("until"):
                    break
        except cozefallback.CozeError as e:
            out.error = e
        ws_result(out, session)
    return out


async def ws_async(client: cozefallback.AsyncClient, spec: Dict[str, Any]) -> Outcome:
    spec = ws_spec(spec)
    try:
        session = await client.websocket(spec["path"], ws_query(spec))
    except cozefallback.CozeError as e:
        return from_error(e)
    out = Outcome()
    async with session:
        try:
            for event in spec.get("send") or []:
                await session.send(event)
            async for received in session:
                for answer in ws_rules(spec, ws_name(received)):
                    await session.send(answer)
                if ws_record(out, received) == spec.get("until"):
                    break
        except cozefallback.CozeError as e:
            out.error = e
        ws_result(out, session)
    return out


def call_sync(client: cozefallback.Client, step: Dict[str, Any]) -> Outcome:
    started = time.monotonic()
    try:
        if "request" in step:
            spec = step["request"]
            out = from_response(client.request(spec["method"], spec["path"], **request_args(spec)))
        elif "upload" in step:
            spec = step["upload"]
            check_keys(spec, UPLOAD_KEYS, "upload")
            out = from_response(client.upload(spec["path"], spec["content"].encode(), filename=spec["filename"]))
        elif "websocket" in step:
            out = ws_sync(client, step["websocket"])
        elif "stream" in step:
            spec = step["stream"]
            stream = client.stream(spec["method"], spec["path"], **request_args(spec))
            out = Outcome()
            out.status, out.credential, out.attempts = stream.status, stream.credential, stream.attempts
            out.moved = stream.conversation_moved
            with stream:
                try:
                    for ev in stream:
                        out.events.append(ev)
                except cozefallback.CozeError as e:
                    out.error = e
        else:
            raise AssertionError(f"step has no call: {step}")
    except cozefallback.CozeError as e:
        out = from_error(e)
    out.elapsed = time.monotonic() - started
    return out


async def call_async(client: cozefallback.AsyncClient, step: Dict[str, Any]) -> Outcome:
    started = time.monotonic()
    try:
        if "request" in step:
            spec = step["request"]
            out = from_response(await client.request(spec["method"], spec["path"], **request_args(spec)))
        elif "upload" in step:
            spec = step["upload"]
            check_keys(spec, UPLOAD_KEYS, "upload")
            out = from_response(await client.upload(spec["path"], spec["content"].encode(), filename=spec["filename"]))
        elif "websocket" in step:
            out = await ws_async(client, step["websocket"])
        elif "stream" in step:
            spec = step["stream"]
            stream = await client.stream(spec["method"], spec["path"], **request_args(spec))
            out = Outcome()
            out.status, out.credential, out.attempts = stream.status, stream.credential, stream.attempts
            out.moved = stream.conversation_moved
            async with stream:
                try:
                    async for ev in stream:
                        out.events.append(ev)
                except cozefallback.CozeError as e:
                    out.error = e
        else:
            raise AssertionError(f"step has no call: {step}")
    except cozefallback.CozeError as e:
        out = from_error(e)
    out.elapsed = time.monotonic() - started
    return out


def check_moved(want: Any, moved: Optional[cozefallback.ConversationMoved], what: str) -> None:
    """`conversation_moved`: false = none reported; else the keys given match and `to` is a new id."""
    if want is False:
        assert moved is None, f"{what}: want none, got {moved!r}"
        return
    check_keys(want, MOVED_KEYS, what)
    assert moved is not None, f"{what}: want {want}, got none"
    for key, value in want.items():
        assert moved[key] == value, f"{what}.{key}: want {value!r}, got {moved!r}"
    assert moved.to and moved.to != moved.from_, f"{what}: `to` must be a new id, got {moved!r}"


def check_stranded(want: Dict[str, Any], err: cozefallback.CozeError) -> None:
    """The conversation_stranded keys of `expect.error` (and `message_contains`, for any kind)."""
    if want.get("kind") == "conversation_stranded":
        assert isinstance(err, cozefallback.ConversationStrandedError), repr(err)
    for key in ("conversation_id", "file_id", "conversation_owner", "bot_credential"):
        if key in want:
            got = getattr(err, key)
            assert got == want[key], f"error.{key}: want {want[key]!r}, got {got!r} ({err})"
    if "message_contains" in want:
        assert want["message_contains"] in str(err), f"error message {str(err)!r} lacks {want['message_contains']!r}"


def check(expect: Dict[str, Any], out: Outcome, conv: bool = False, obo: bool = False) -> None:
    allowed = EXPECT_KEYS | (WS_EXPECT_KEYS if out.websocket else set()) | (CONV_EXPECT_KEYS if conv else set())
    check_keys(expect, allowed, "expect")
    want_err = expect.get("error")
    if want_err is not None:
        error_keys = ERROR_KEYS | (CONV_ERROR_KEYS if conv else set()) | (OBO_ERROR_KEYS if obo else set())
        check_keys(want_err, error_keys, "expect.error")
        assert out.error is not None, f"expected error {want_err}, got success (status {out.status})"
        err = out.error
        if "kind" in want_err:
            assert err.kind == want_err["kind"], f"error.kind: want {want_err['kind']}, got {err.kind} ({err})"
            assert isinstance(err, cozefallback.CozeError)
        if "code" in want_err:
            assert err.code == want_err["code"], f"error.code: want {want_err['code']}, got {err.code} ({err})"
        if "http_status" in want_err:
            assert err.http_status == want_err["http_status"], f"error.http_status: got {err.http_status} ({err})"
        if "previous_code" in want_err:
            assert err.previous is not None and err.previous.code == want_err["previous_code"], f"previous: {err.previous!r}"
        if "previous_credential" in want_err:
            assert err.previous is not None and err.previous.credential == want_err["previous_credential"]
        check_stranded(want_err, err)
        check_oauth_error(want_err, err)
    else:
        assert out.error is None, f"unexpected error: {out.error!r}"
    if "status" in expect:
        assert out.status == expect["status"], f"status: want {expect['status']}, got {out.status}"
    if "credential" in expect:
        assert out.credential == expect["credential"], f"credential: want {expect['credential']}, got {out.credential}"
    if "attempts" in expect:
        assert out.attempts == expect["attempts"], f"attempts: want {expect['attempts']}, got {out.attempts}"
    if "json_code" in expect:
        try:
            code = json.loads(out.body or "null").get("code")
        except (ValueError, AttributeError):
            code = None
        assert code == expect["json_code"], f"json_code: want {expect['json_code']}, got {code}"
    if "body_contains" in expect:
        assert expect["body_contains"] in (out.body or ""), f"body_contains {expect['body_contains']!r} not in {out.body!r}"
    names = [e.event for e in out.events]
    if "events_min" in expect:
        assert len(names) >= expect["events_min"], f"events_min: got {names}"
    if "events_before_error" in expect:
        assert len(names) == expect["events_before_error"], f"events_before_error: got {names}"
        assert out.error is None or out.error.events_delivered in (0, len(names))
    if "first_event" in expect:
        assert names and names[0] == expect["first_event"], f"first_event: got {names}"
    if "last_event" in expect:
        assert names and names[-1] == expect["last_event"], f"last_event: got {names}"
    if "elapsed_ms_min" in expect:
        assert out.elapsed * 1000 >= expect["elapsed_ms_min"], f"elapsed_ms_min: took {out.elapsed * 1000:.0f} ms"
    if "events" in expect:
        assert names == expect["events"], f"events: want {expect['events']}, got {names}"
    if "close_code" in expect:
        assert out.close_code == expect["close_code"], f"close_code: want {expect['close_code']}, got {out.close_code}"
    if "logid" in expect:
        assert out.logid == expect["logid"], f"logid: want present={expect['logid']}, got present={out.logid}"
    if "data_len" in expect:
        data = json.loads(out.body or "null")
        got = len(data["data"]) if isinstance(data, dict) and isinstance(data.get("data"), list) else None
        assert got == expect["data_len"], f"data_len: want {expect['data_len']}, got {got} ({out.body!r})"
    if "conversation_moved" in expect:
        check_moved(expect["conversation_moved"], out.moved, "conversation_moved")


def check_mock(expect: Dict[str, Any], stats: Dict[str, Any]) -> None:
    check_keys(expect, MOCK_EXPECT_KEYS, "expect_mock")
    for key, section in (
        ("token_mints", stats["token_mints"]),
        ("requests_by_credential", stats["requests"]["by_credential"]),
        ("by_path", stats["requests"]["by_path"]),
    ):
        for name, n in (expect.get(key) or {}).items():
            assert section.get(name, 0) == n, f"mock {key}.{name}: want {n}, got {section.get(name, 0)}"
    if "total_requests" in expect:
        assert stats["requests"]["total"] == expect["total_requests"], f"mock total: {stats['requests']['total']}"
    ws = stats.get("websocket") or {}
    for name, n in (expect.get("websocket_handshakes") or {}).items():
        got = ws.get("handshakes", 0) if name == "total" else (ws.get("by_credential") or {}).get(name, 0)
        assert got == n, f"mock websocket_handshakes.{name}: want {n}, got {got}"
    if "websocket_sessions" in expect:
        check_sessions(expect["websocket_sessions"], ws.get("sessions") or [])


def check_sessions(want: List[Dict[str, Any]], got: List[Dict[str, Any]]) -> None:
    """The mock's sessions, in order and exactly as many, each on the fields listed."""
    assert len(want) == len(got), f"mock websocket_sessions: want {len(want)} session(s), got {len(got)}: {got}"
    for i, (w, g) in enumerate(zip(want, got)):
        check_keys(w, WS_SESSION_KEYS, "websocket_sessions[]")
        for key, value in w.items():
            if key == "received":
                actual: Any = [r.get("event_type") for r in g.get("received") or []]
            elif key == "received_ids":
                actual = [r.get("id") for r in g.get("received") or []]
            else:
                actual = g.get(key)
            assert actual == value, f"mock websocket_sessions[{i}].{key}: want {value}, got {actual}"


def save(step: Dict[str, Any], out: Outcome, vars: Dict[str, str]) -> None:
    for name, pointer in (step.get("save") or {}).items():
        value: Any = json.loads(out.body or "null")
        for part in pointer.strip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            value = value[int(part)] if isinstance(value, list) else value[part]
        vars[name] = value if isinstance(value, str) else json.dumps(value)


def save_moved(step: Dict[str, Any], out: Outcome, vars: Dict[str, str]) -> None:
    name = step.get("save_moved_to")
    if name is not None:
        assert out.moved is not None, "save_moved_to: the call reported no conversation_moved"
        vars[name] = out.moved.to


class HookCalls:
    """An `on_conversation_moved` hook recording its calls (it runs on library threads)."""

    def __init__(self) -> None:
        self.calls: List[cozefallback.ConversationMoved] = []
        self._lock = threading.Lock()

    def __call__(self, from_: str, to: str, messages_copied: int) -> None:
        with self._lock:
            self.calls.append(cozefallback.ConversationMoved(from_, to, messages_copied))


def check_hook(scenario: Dict[str, Any], hook: HookCalls, vars: Dict[str, str]) -> None:
    if "expect_hook" not in scenario:
        return
    want = substitute(scenario["expect_hook"], vars)
    assert isinstance(want, list), "expect_hook must be a list"
    assert len(hook.calls) == len(want), f"hook: want {len(want)} call(s), got {hook.calls}"
    for i, (w, got) in enumerate(zip(want, hook.calls)):
        check_moved(w, got, f"hook call {i}")


def check_oauth_error(want: Dict[str, Any], err: cozefallback.CozeError) -> None:
    """The OAuth keys of `expect.error`: `oauth_error`, `authorize_url_contains`."""
    if "oauth_error" in want:
        assert err.oauth_error == want["oauth_error"], f"error.oauth_error: want {want['oauth_error']!r}, got {err.oauth_error!r} ({err})"
    if "authorize_url_contains" in want:
        url = err.authorize_url
        assert url, f"error.authorize_url: want one, got none ({err!r})"
        for part in want["authorize_url_contains"]:
            assert part in url, f"authorize URL {url!r} lacks {part!r}"


def query_param(url: str, name: str) -> Optional[str]:
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get(name)
    return values[0] if values else None


def check_authorize_url(auth: cozefallback.AuthorizeUrl, vars: Dict[str, str], pkce: bool) -> Optional[str]:
    """The login's authorize URL carries the client id, the redirect URI and a state (and, for PKCE, an S256
    challenge, answered, with a verifier kept)."""
    assert query_param(auth.url, "client_id") == vars["OAUTH_CLIENT_ID"], f"client_id missing: {auth.url}"
    assert "redirect_uri=" + urllib.parse.quote(REDIRECT, safe="") in auth.url, f"redirect_uri missing: {auth.url}"
    assert query_param(auth.url, "state") and query_param(auth.url, "state") == auth.state, f"state missing: {auth.url}"
    if not pkce:
        return None
    challenge = query_param(auth.url, "code_challenge")
    assert challenge and query_param(auth.url, "code_challenge_method") == "S256", f"no S256 challenge: {auth.url}"
    has_verifier = bool(auth.code_verifier)  # a bare assert would show the secret on failure
    assert has_verifier, "PKCE gave no code verifier"
    return challenge


def login_code(mock: Mock, challenge: Optional[str]) -> str:
    """What the browser brings back after the user consents: `POST /__mock/oauth/code`."""
    body: Dict[str, Any] = {"redirect_uri": REDIRECT}
    if challenge:
        body.update(code_challenge=challenge, code_challenge_method="S256")
    code: str = mock._post("/__mock/oauth/code", body)["code"]
    return code


def oauth_app(vars: Dict[str, str], cls: Any, with_secret: bool) -> Any:
    secret = vars["OAUTH_CLIENT_SECRET"] if with_secret else None
    return cls(vars["BASE_URL"], vars["OAUTH_CLIENT_ID"], secret)


def login_sync(mock: Mock, flow: str, vars: Dict[str, str]) -> cozefallback.OAuthToken:
    """`obo_login` with the blocking OAuthApp."""
    app: cozefallback.OAuthApp = oauth_app(vars, cozefallback.OAuthApp, flow == "code")
    if flow == "device":
        device = app.device_code()
        complete = bool(device.device_code and device.user_code and device.verification_uri)
        assert complete, repr(device)
        mock.approve_device(device.user_code)
        return app.wait_device_token(device)
    assert flow in ("code", "pkce"), f"obo_login must be code, pkce or device, not {flow!r}"
    auth = app.authorize_url(REDIRECT, pkce=flow == "pkce")
    code = login_code(mock, check_authorize_url(auth, vars, flow == "pkce"))
    return app.exchange_code(code, REDIRECT, auth.code_verifier)


async def login_async(mock: Mock, flow: str, vars: Dict[str, str]) -> cozefallback.OAuthToken:
    """`obo_login` with the AsyncOAuthApp."""
    app: cozefallback.AsyncOAuthApp = oauth_app(vars, cozefallback.AsyncOAuthApp, flow == "code")
    if flow == "device":
        device = await app.device_code()
        complete = bool(device.device_code and device.user_code and device.verification_uri)
        assert complete, repr(device)
        mock.approve_device(device.user_code)
        return await asyncio.wait_for(app.wait_device_token(device), 30)
    assert flow in ("code", "pkce"), f"obo_login must be code, pkce or device, not {flow!r}"
    auth = app.authorize_url(REDIRECT, pkce=flow == "pkce")
    code = login_code(mock, check_authorize_url(auth, vars, flow == "pkce"))
    return await app.exchange_code(code, REDIRECT, auth.code_verifier)


def token_pair(access: Optional[str], refresh: Optional[str]) -> bool:
    """Both tokens non-empty (a bool, so a failing assert cannot show a token)."""
    return bool(access) and bool(refresh)


def add_tokens(token: cozefallback.OAuthToken, vars: Dict[str, str]) -> None:
    """The login's tokens as `${OBO_ACCESS_TOKEN}` and `${OBO_REFRESH_TOKEN}`."""
    assert token_pair(token.access_token, token.refresh_token), "the login gave an empty token"
    vars["OBO_ACCESS_TOKEN"], vars["OBO_REFRESH_TOKEN"] = token.access_token, token.refresh_token


class RefreshCalls:
    """A refresh hook recording its calls (it runs on library threads)."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, refresh: Dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(dict(refresh))

    def last_refresh_token(self) -> str:
        assert len(self.calls) > 0, "oauth_refresh hooked: the refresh hook was never called"
        token: str = self.calls[-1]["refresh_token"]
        return token


def configured_refresh_token(config: Dict[str, Any]) -> Optional[str]:
    """The refresh token of the config's `oauth` credential (personal first)."""
    for side in ("personal", "enterprise"):
        cred = config.get(side) or {}
        if cred.get("type") == "oauth":
            token: Optional[str] = cred.get("refresh_token")
            return token
    return None


def check_refresh_hook(scenario: Dict[str, Any], hook: RefreshCalls, config: Dict[str, Any]) -> None:
    """`expect_refresh_hook`: the calls' credentials in order, each with fresh, rotated tokens."""
    if "expect_refresh_hook" not in scenario:
        return
    want = [w.get("credential") for w in scenario["expect_refresh_hook"]]
    got = [c.get("credential") for c in hook.calls]
    assert got == want, f"refresh hook: want calls for {want}, got {got}"
    seen = [configured_refresh_token(config)]
    for i, call in enumerate(hook.calls):
        assert token_pair(call["access_token"], call["refresh_token"]), f"refresh hook call {i}: an empty token"
        rotated = call["refresh_token"] not in seen
        assert rotated, f"refresh hook call {i}: the refresh token did not rotate"
        assert call["expires_at"] > time.time(), f"refresh hook call {i}: expires_at {call['expires_at']} is past"
        seen.append(call["refresh_token"])


def refresh_token_for(step: Dict[str, Any], hook: RefreshCalls, config: Dict[str, Any]) -> str:
    """The token an `oauth_refresh` step refreshes with: the last hooked one, or the configured one."""
    which = step["oauth_refresh"]
    assert which in ("hooked", "configured"), f"oauth_refresh must be hooked or configured, not {which!r}"
    token = hook.last_refresh_token() if which == "hooked" else configured_refresh_token(config)
    assert token is not None and token != "", "oauth_refresh configured: no oauth refresh_token in config"
    return token


def refreshed(token: cozefallback.OAuthToken) -> Outcome:
    assert token_pair(token.access_token, token.refresh_token), "oauth_refresh: an empty access or refresh token"
    return Outcome()


def obo_step_sync(client: cozefallback.Client, step: Dict[str, Any], hook: RefreshCalls, config: Dict[str, Any], vars: Dict[str, str]) -> Outcome:
    """A `fetch_token` or `oauth_refresh` step with the blocking client and OAuthApp."""
    try:
        if "fetch_token" in step:
            client.fetch_token(step["fetch_token"])
            return Outcome()
        app: cozefallback.OAuthApp = oauth_app(vars, cozefallback.OAuthApp, True)
        return refreshed(app.refresh(refresh_token_for(step, hook, config)))
    except cozefallback.CozeError as e:
        return from_error(e)


async def obo_step_async(client: cozefallback.AsyncClient, step: Dict[str, Any], hook: RefreshCalls, config: Dict[str, Any], vars: Dict[str, str]) -> Outcome:
    """The same with the AsyncClient and AsyncOAuthApp."""
    try:
        if "fetch_token" in step:
            await client.fetch_token(step["fetch_token"])
            return Outcome()
        app: cozefallback.AsyncOAuthApp = oauth_app(vars, cozefallback.AsyncOAuthApp, True)
        return refreshed(await app.refresh(refresh_token_for(step, hook, config)))
    except cozefallback.CozeError as e:
        return from_error(e)


def is_conv(path: Path) -> bool:
    return path.parent.name == "conversations"


def is_obo(path: Path) -> bool:
    return path.parent.name == "obo"


def step_keys(path: Path) -> set:  # type: ignore[type-arg]
    return STEP_KEYS | (CONV_STEP_KEYS if is_conv(path) else set()) | (OBO_STEP_KEYS if is_obo(path) else set())


def prepare(mock: Mock, path: Path) -> Dict[str, Any]:
    scenario: Dict[str, Any] = json.loads(path.read_text())
    allowed = SCENARIO_KEYS | (CONV_SCENARIO_KEYS if is_conv(path) else set()) | (OBO_SCENARIO_KEYS if is_obo(path) else set())
    check_keys(scenario, allowed, "scenario")
    mock.reset()
    if "mock" in scenario:
        mock.state(scenario["mock"])
    return scenario


def config_error(scenario: Dict[str, Any], err: Optional[cozefallback.CozeError]) -> None:
    want = scenario["expect_config_error"]
    check_keys(want, {"message_contains"}, "expect_config_error")
    assert err is not None, "expected a config error, the client was built"
    assert isinstance(err, cozefallback.ConfigError) and err.kind == "config", repr(err)
    for s in want["message_contains"]:
        assert s in str(err), f"config error {str(err)!r} does not mention {s!r}"


def test_scenarios_exist() -> None:
    assert len(SCENARIOS) >= 40, f"expected the conformance scenarios, found {len(SCENARIOS)}"
    assert len(WS_SCENARIOS) >= 10, f"expected the WebSocket scenarios, found {len(WS_SCENARIOS)}"
    assert len(CONV_SCENARIOS) >= 16, f"expected the conversation scenarios, found {len(CONV_SCENARIOS)}"
    assert len(OBO_SCENARIOS) >= 9, f"expected the OBO scenarios, found {len(OBO_SCENARIOS)}"


@pytest.mark.parametrize("path", ALL_SCENARIOS, ids=[p.stem for p in ALL_SCENARIOS])
def test_scenario_sync(mock: Mock, path: Path) -> None:
    scenario = prepare(mock, path)
    vars = variables(mock.info)
    if "obo_login" in scenario:
        add_tokens(login_sync(mock, scenario["obo_login"], vars), vars)
    config = substitute(scenario.get("config"), vars)
    conv, obo = is_conv(path), is_obo(path)
    hook, refreshes = HookCalls(), RefreshCalls()
    try:
        client = cozefallback.Client(config, on_conversation_moved=hook)
    except cozefallback.CozeError as e:
        if "expect_config_error" in scenario:
            return config_error(scenario, e)
        raise
    if "expect_config_error" in scenario:
        return config_error(scenario, None)
    client.set_refresh_hook(refreshes)
    try:
        for i, raw in enumerate(scenario["steps"]):
            step = substitute(raw, vars)
            check_keys(step, step_keys(path), f"step {i}")
            expect = step.get("expect") or {}
            try:
                if "set_mode" in step:
                    client.set_mode(step["set_mode"])
                elif "map_conversation" in step:
                    client.map_conversation(step["map_conversation"]["from"], step["map_conversation"]["to"])
                elif "new_client" in step:
                    # An app restart: a new client from the same config knows no conversation binding.
                    client.close()
                    client = cozefallback.Client(config)
                    client.set_conversation_hook(hook)
                    client.set_refresh_hook(refreshes)
                elif "mock" in step:
                    mock.state(step["mock"])
                elif "sleep_ms" in step:
                    time.sleep(step["sleep_ms"] / 1000)
                elif "fetch_token" in step or "oauth_refresh" in step:
                    check(expect, obo_step_sync(client, step, refreshes, config, vars), conv, obo)
                elif "concurrent" in step:
                    n = step["concurrent"]
                    with ThreadPoolExecutor(max_workers=n) as pool:
                        outs = list(pool.map(lambda _: call_sync(client, step), range(n)))
                    for out in outs:
                        check(expect, out, conv, obo)
                else:
                    for _ in range(step.get("repeat", 1)):
                        out = call_sync(client, step)
                        check(expect, out, conv, obo)
                        save(step, out, vars)
                        save_moved(step, out, vars)
            except AssertionError as e:
                raise AssertionError(f"step {i}: {e}") from None
    finally:
        client.close()
    if "expect_mock" in scenario:
        check_mock(scenario["expect_mock"], mock.stats())
    check_hook(scenario, hook, vars)
    check_refresh_hook(scenario, refreshes, config)


@pytest.mark.parametrize("path", ALL_SCENARIOS, ids=[p.stem for p in ALL_SCENARIOS])
def test_scenario_async(mock: Mock, path: Path) -> None:
    scenario = prepare(mock, path)
    vars = variables(mock.info)
    conv, obo = is_conv(path), is_obo(path)
    hook, refreshes = HookCalls(), RefreshCalls()

    async def run() -> Any:
        if "obo_login" in scenario:
            add_tokens(await login_async(mock, scenario["obo_login"], vars), vars)
        config = substitute(scenario.get("config"), vars)
        try:
            client = cozefallback.AsyncClient(config, on_conversation_moved=hook)
        except cozefallback.CozeError as e:
            if "expect_config_error" in scenario:
                return config_error(scenario, e)
            raise
        if "expect_config_error" in scenario:
            return config_error(scenario, None)
        client.set_refresh_hook(refreshes)
        try:
            for i, raw in enumerate(scenario["steps"]):
                step = substitute(raw, vars)
                check_keys(step, step_keys(path), f"step {i}")
                expect = step.get("expect") or {}
                try:
                    if "set_mode" in step:
                        client.set_mode(step["set_mode"])
                    elif "map_conversation" in step:
                        client.map_conversation(step["map_conversation"]["from"], step["map_conversation"]["to"])
                    elif "new_client" in step:
                        # An app restart; the hook goes on through the decorator form this time.
                        await client.aclose()
                        client = cozefallback.AsyncClient(config)
                        client.on_conversation_moved(hook)
                        client.set_refresh_hook(refreshes)
                    elif "mock" in step:
                        mock.state(step["mock"])
                    elif "sleep_ms" in step:
                        await asyncio.sleep(step["sleep_ms"] / 1000)
                    elif "fetch_token" in step or "oauth_refresh" in step:
                        check(expect, await obo_step_async(client, step, refreshes, config, vars), conv, obo)
                    elif "concurrent" in step:
                        outs = await asyncio.gather(*(call_async(client, step) for _ in range(step["concurrent"])))
                        for out in outs:
                            check(expect, out, conv, obo)
                    else:
                        for _ in range(step.get("repeat", 1)):
                            out = await call_async(client, step)
                            check(expect, out, conv, obo)
                            save(step, out, vars)
                            save_moved(step, out, vars)
                except AssertionError as e:
                    raise AssertionError(f"step {i}: {e}") from None
        finally:
            await client.aclose()
        return config

    config = asyncio.run(run())
    if "expect_mock" in scenario:
        check_mock(scenario["expect_mock"], mock.stats())
    check_hook(scenario, hook, vars)
    check_refresh_hook(scenario, refreshes, config or {})
