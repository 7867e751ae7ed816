"""Hostile input against a real gunicorn + eventlet server, over plain WebSockets and HTTP.

Each case gets its contract answer and the worker stays healthy: /healthz answers 200 and a
normal client still works. The module ends by checking the worker's memory and audit rows.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import websocket

from tests.app.conftest import wait_for
from tests.app.hostile_support import Ctx, assert_healthy_with_client, fresh_addr, start_ctx
from tests.app.rawsock import RawSocket
from tests.support.live import live_fixture


@live_fixture(scope="module")
def ctx(tmp_path_factory) -> Iterator[Ctx]:
    """One live server for the module."""
    yield from start_ctx(tmp_path_factory.mktemp("hostile"))


# -- the table -------------------------------------------------------------------------------

def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _forged(header: dict, claims: dict) -> str:
    return f"{_b64(header)}.{_b64(claims)}.c2ln"


def _claims(c: Ctx, **over: Any) -> dict:
    now = int(time.time())
    return {"sub": c.user["id"], "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, "type": "access", **over}


# (name, auth builder) -> expected connect answer: "ok" or the connect_error code.
CONNECT_CASES: list[tuple[str, Callable[[Ctx], Any], str]] = [
    ("no auth at all", lambda c: None, "auth_required"),
    ("auth is a list", lambda c: ["token"], "auth_required"),
    ("auth is a string", lambda c: "token", "auth_required"),
    ("auth is a number", lambda c: 42, "auth_required"),
    ("auth is empty object", lambda c: {}, "auth_required"),
    ("token is null", lambda c: {"token": None}, "auth_required"),
    ("token is a number", lambda c: {"token": 12345}, "auth_required"),
    ("token is an object", lambda c: {"token": {"a": 1}}, "auth_required"),
    ("token is empty", lambda c: {"token": ""}, "auth_required"),
    ("token garbage", lambda c: {"token": "not.a.token"}, "token_invalid"),
    ("token one segment", lambda c: {"token": "abc"}, "token_invalid"),
    ("token with NUL", lambda c: {"token": c.user["access"] + "\x00"}, "token_invalid"),
    ("token with control char", lambda c: {"token": "\x07" + c.user["access"]}, "token_invalid"),
    ("token non-ascii", lambda c: {"token": c.user["access"][:-2] + "\u00e9\u00e9"}, "token_invalid"),
    ("token over 8 KB", lambda c: {"token": c.mint(pad="x" * 9000)}, "token_invalid"),
    ("token 60 KB of junk", lambda c: {"token": "a" * 60000}, "token_invalid"),
    ("alg none", lambda c: {"token": c.mint(key=None, alg="none")}, "token_invalid"),
    ("alg none forged", lambda c: {"token": _forged({"alg": "none", "typ": "JWT"}, _claims(c))[:-4]},
     "token_invalid"),
    ("alg HS512", lambda c: {"token": c.mint(alg="HS512")}, "token_invalid"),
    ("alg HS384", lambda c: {"token": c.mint(alg="HS384")}, "token_invalid"),
    ("alg RS256 header, HMAC body", lambda c: {"token": _forged({"alg": "RS256"}, _claims(c))}, "token_invalid"),
    ("bad signature", lambda c: {"token": c.mint(key="another-secret-" + "y" * 60)}, "token_invalid"),
    ("crit header", lambda c: {"token": c.mint(headers={"crit": ["exp"]})}, "token_invalid"),
    ("header not json", lambda c: {"token": "e30x." + c.user["access"].split(".", 1)[1]}, "token_invalid"),
    ("missing exp", lambda c: {"token": c.mint(drop=("exp",))}, "token_invalid"),
    ("missing jti", lambda c: {"token": c.mint(drop=("jti",))}, "token_invalid"),
    ("missing sub", lambda c: {"token": c.mint(drop=("sub",))}, "token_invalid"),
    ("exp is a string", lambda c: {"token": c.mint(exp="tomorrow")}, "token_invalid"),
    ("sub is a number", lambda c: {"token": c.signed(_claims(c, sub=int(c.user["id"])))}, "token_invalid"),
    ("nbf in the future", lambda c: {"token": c.mint(nbf=int(time.time()) + 600)}, "token_invalid"),
    ("iat in the future", lambda c: {"token": c.mint(iat=int(time.time()) + 600)}, "token_invalid"),
    ("expired", lambda c: {"token": c.mint(exp=int(time.time()) - 5)}, "token_expired"),
    ("refresh token", lambda c: {"token": c.user["refresh"]}, "wrong_token_type"),
    ("revoked token", lambda c: {"token": c.revoked_token()}, "token_revoked"),
    ("unknown user", lambda c: {"token": c.server.mint("999999")}, "user_unknown"),
    ("sub not a number", lambda c: {"token": c.server.mint("../../etc")}, "user_unknown"),
    ("huge sub", lambda c: {"token": c.server.mint("9" * 40)}, "user_unknown"),
    ("jku/x5u/kid never fetched", lambda c: {"token": c.mint(headers={
        "jku": "http://127.0.0.1:9/jwks", "x5u": "http://127.0.0.1:9/x5", "kid": "../../key"})}, "ok"),
    ("good token", lambda c: {"token": c.user["access"]}, "ok"),
]


@pytest.mark.parametrize(("name", "make", "expected"), CONNECT_CASES, ids=[c[0] for c in CONNECT_CASES])
def test_hostile_connect(ctx: Ctx, name: str, make: Callable[[Ctx], Any], expected: str) -> None:
    addr = fresh_addr()
    raw = ctx.raw(addr)
    try:
        answer, data = raw.connect(make(ctx))
        if expected == "ok":
            assert answer == "ok", data
            assert raw.call("whoami")["ok"] is True
        else:
            assert answer == "error", data
            assert data["message"] == expected and data["data"]["code"] == expected, data
            assert "Traceback" not in json.dumps(data)
    finally:
        raw.close()
    if expected != "ok":
        assert wait_for(lambda: any(r["remote_addr"] == addr and r["detail"].get("code") == expected
                                    for r in ctx.audit_rows("connect_refused")), timeout=5)


def test_token_in_query_string_is_refused(ctx: Ctx) -> None:
    raw = ctx.raw(query="&token=" + ctx.user["access"])
    try:
        assert raw.connect()[1]["message"] == "auth_required"
    finally:
        raw.close()


def test_bearer_header_is_accepted_and_other_schemes_are_not(ctx: Ctx) -> None:
    good = ctx.raw(headers=["Authorization: Bearer " + ctx.user["access"]])
    bad = ctx.raw(headers=["Authorization: Basic " + ctx.user["access"]])
    try:
        assert good.connect()[0] == "ok"
        assert bad.connect()[1]["message"] == "auth_required"
    finally:
        good.close()
        bad.close()


# (name, Socket.IO event args) -> the ack's error code, or "ok".
DEEP: Any = "x"
for _ in range(20):
    DEEP = [DEEP]
EVENT_CASES: list[tuple[str, list, str]] = [
    ("join without payload", ["join"], "invalid_payload"),
    ("join payload string", ["join", "lobby"], "invalid_payload"),
    ("join payload list", ["join", ["lobby"]], "invalid_payload"),
    ("join room number", ["join", {"room": 7}], "invalid_payload"),
    ("join room empty", ["join", {"room": ""}], "invalid_payload"),
    ("join room 65 chars", ["join", {"room": "r" * 65}], "invalid_payload"),
    ("join room with NUL", ["join", {"room": "lob\x00by"}], "invalid_payload"),
    ("join room with newline", ["join", {"room": "lobby\n"}], "invalid_payload"),
    ("join room unicode", ["join", {"room": "l\u00f6bby"}], "invalid_payload"),
    ("join since_id negative", ["join", {"room": "lobby", "since_id": -1}], "invalid_payload"),
    ("join since_id string", ["join", {"room": "lobby", "since_id": "5"}], "invalid_payload"),
    ("join since_id bool", ["join", {"room": "lobby", "since_id": True}], "invalid_payload"),
    ("join since_id float", ["join", {"room": "lobby", "since_id": 1.5}], "invalid_payload"),
    ("join since_id 2**70", ["join", {"room": "lobby", "since_id": 2**70}], "invalid_payload"),
    ("join someone else's dm", ["join", {"room": "dm.zzz1.zzz2"}], "forbidden"),
    ("join nested 20 deep", ["join", {"room": "lobby", "x": DEEP}], "invalid_payload"),
    ("join 300 keys", ["join", {f"k{i}": i for i in range(300)}], "invalid_payload"),
    ("join two payloads", ["join", {"room": "lobby"}, {"room": "lobby"}], "invalid_payload"),
    ("message no text", ["message", {"room": "hostile"}], "invalid_payload"),
    ("message text number", ["message", {"room": "hostile", "text": 5}], "invalid_payload"),
    ("message text empty", ["message", {"room": "hostile", "text": ""}], "invalid_payload"),
    ("message text 2001", ["message", {"room": "hostile", "text": "t" * 2001}], "invalid_payload"),
    ("message text NUL", ["message", {"room": "hostile", "text": "a\x00b"}], "invalid_payload"),
    ("message text BEL", ["message", {"room": "hostile", "text": "a\x07b"}], "invalid_payload"),
    ("message text ESC", ["message", {"room": "hostile", "text": "\x1b[31mred"}], "invalid_payload"),
    ("message lone surrogate", ["message", {"room": "hostile", "text": "a\ud800b"}], "invalid_payload"),
    ("message not joined", ["message", {"room": "elsewhere", "text": "hi"}], "not_joined"),
    ("message newline and tab ok", ["message", {"room": "hostile", "text": "a\n\tb \u00e9\U0001f600"}], "ok"),
    ("leave not joined", ["leave", {"room": "elsewhere"}], "not_joined"),
    ("presence payload null", ["presence", None], "invalid_payload"),
    ("presence dm of others", ["presence", {"room": "dm.zzz1.zzz2"}], "forbidden"),
    ("refresh token number", ["refresh", {"token": 5}], "invalid_payload"),
    ("refresh extra field", ["refresh", {"token": "x", "admin": True}], "invalid_payload"),
    ("refresh garbage token", ["refresh", {"token": "not.a.token"}], "token_invalid"),
    ("refresh other user", ["refresh", {"token": "__other__"}], "identity_mismatch"),
    ("unknown event", ["shutdown", {}], "invalid_payload"),
    ("event name 10 KB", ["e" * 10000, {}], "invalid_payload"),
    ("whoami with junk payload", ["whoami", {"junk": [1, 2, 3]}], "ok"),
]


@pytest.mark.parametrize(("name", "args", "expected"), EVENT_CASES, ids=[c[0] for c in EVENT_CASES])
def test_hostile_event(ctx: Ctx, name: str, args: list, expected: str) -> None:
    raw = ctx.raw()
    try:
        assert raw.connect({"token": ctx.user["access"]})[0] == "ok"
        assert raw.call("join", {"room": "hostile"}, ack_id=1)["ok"] is True
        args = [{"token": ctx.other["access"]} if a == {"token": "__other__"} else a for a in args]
        ack = raw.call(*args, ack_id=2)
        if expected == "ok":
            assert ack["ok"] is True, ack
        else:
            assert ack["ok"] is False and ack["error"]["code"] == expected, ack
            assert isinstance(ack["error"]["message"], str) and "Traceback" not in ack["error"]["message"]
        assert raw.call("whoami", ack_id=3)["ok"] is True  # the socket is still up
    finally:
        raw.close()


# (name, frames to send after a good connect) -> "closed" (session ends) or "ignored" (still works).
def _fragmented(raw: RawSocket) -> None:
    chunk = "4" + "x" * 40000
    raw.ws.send_frame(websocket.ABNF.create_frame(chunk, websocket.ABNF.OPCODE_TEXT, fin=0))
    raw.ws.send_frame(websocket.ABNF.create_frame("y" * 40000, websocket.ABNF.OPCODE_CONT, fin=1))


FRAME_CASES: list[tuple[str, Any, str]] = [
    ("empty text frame", "", "closed"),
    ("not a packet type", "x", "closed"),
    ("unknown packet type 9", "9", "closed"),
    ("base64 junk", "b!!!", "closed"),
    ("invalid utf-8 text frame", (b"4\xff\xfe", websocket.ABNF.OPCODE_TEXT), "closed"),
    ("binary frame", b"\x00\x01\x02", "closed"),
    ("binary event header", '451-["message",{"_placeholder":true,"num":0}]', "closed"),
    ("binary event 1e9 attachments", '451000000000-["message",{}]', "closed"),
    ("frame over max size", "4" + "x" * 70000, "closed"),
    ("fragmented message over max size", _fragmented, "closed"),
    ("broken json event", "42[", "ignored"),
    ("unknown socket.io type", "49", "ignored"),
    ("event without name", "421[]", "ignored"),
    ("event as object", '421{"a":1}', "ignored"),
    ("json nested 30000 deep", "421" + "[" * 30000 + "]" * 30000, "ignored"),
    ("client sends connect_error", "44{}", "ignored"),
    ("client sends ack for nothing", '4399["x"]', "ignored"),
    ("second namespace connect", "40", "ignored"),
    ("unknown namespace", "40/admin,", "ignored"),
    ("engine.io open from client", "0", "ignored"),
    ("unsolicited pong", "3", "ignored"),
    ("engine.io upgrade packet", "5", "ignored"),
    ("noop packet", "6", "ignored"),
]


@pytest.mark.parametrize(("name", "frame", "expected"), FRAME_CASES, ids=[c[0] for c in FRAME_CASES])
def test_hostile_frame(ctx: Ctx, name: str, frame: Any, expected: str) -> None:
    raw = ctx.raw()
    try:
        assert raw.connect({"token": ctx.user["access"]})[0] == "ok"
        if callable(frame):
            frame(raw)
        elif isinstance(frame, tuple):
            raw.send_raw(*frame)
        else:
            raw.send_raw(frame)
        if expected == "closed":
            assert raw.wait_closed(5)
        else:
            assert raw.call("whoami", ack_id=7)["ok"] is True
    finally:
        raw.close()
    assert_healthy_with_client(ctx.server, ctx.user)


@pytest.mark.parametrize(("name", "method", "query", "body", "status"), [
    # A non-blocking close for a refused POST is patches/backpressure.py (a guard: always in place).
    ("polling POST over max size", "post", "transport=polling&sid=__sid__", "4" + "x" * 70000, 400),
    ("polling POST garbage packets", "post", "transport=polling&sid=__sid__", "zz\x1e99\x1e", 200),
    ("unknown session", "get", "EIO=4&transport=polling&sid=nope", None, 400),
    ("old protocol version", "get", "EIO=3&transport=polling", None, 400),
    ("unknown transport", "get", "EIO=4&transport=carrier-pigeon", None, 400),
    ("websocket transport without upgrade", "get", "EIO=4&transport=websocket", None, 400),
    ("bad jsonp index", "get", "EIO=4&transport=polling&j=abc", None, 400),
])
def test_hostile_http(ctx: Ctx, name: str, method: str, query: str, body: str | None, status: int) -> None:
    url = ctx.server.url + "/socket.io/?"
    if "__sid__" in query:
        opened = requests.get(url + "EIO=4&transport=polling", timeout=5)
        sid = json.loads(opened.text[1:])["sid"]
        query = "EIO=4&" + query.replace("__sid__", sid)
    r = requests.request(method, url + query, data=body, timeout=5)
    assert r.status_code == status, (r.status_code, r.text[:200])
    assert "Traceback" not in r.text
    assert_healthy_with_client(ctx.server, ctx.user)


def test_legacy_websocket_handshake_is_refused(ctx: Ctx) -> None:
    with socket.create_connection(("127.0.0.1", ctx.server.port), timeout=5) as s:
        s.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nOrigin: http://x\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 400")
