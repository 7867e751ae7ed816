"""The server API against a real gunicorn + eventlet server: every call, its refusals, its audit rows.

Every socket event and ack the tests receive is checked against asyncapi.json, and every REST body
against openapi.json's schemas.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests

from realtime import contract
from tests.app import contract_check as check
from tests.app.conftest import PASSWORD, LiveServer, wait_for
from tests.support.live import live_fixture
from tests.support.sio import Recorder

KEY = "live-key-" + uuid.uuid4().hex + uuid.uuid4().hex
HASHED_KEY = "hashed-key-" + uuid.uuid4().hex + uuid.uuid4().hex


@live_fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    """A real server with two server API keys (one given as its sha256) and an admin."""
    import hashlib

    keys = {"ops": KEY, "cron": "sha256:" + hashlib.sha256(HASHED_KEY.encode()).hexdigest()}
    srv = LiveServer(tmp_path_factory.mktemp("serverapi"), {"FLASK_SERVER_API_KEYS": json.dumps(keys),
                                                             "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[1000, 60]"})
    srv.migrate()
    srv.create_admin("boss")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def sockets(server) -> Iterator:
    """Factory for recording socket clients of the server; closed at teardown."""
    made: list[Recorder] = []

    def make(token: str) -> Recorder:
        rec = Recorder(server.url)
        made.append(rec)
        assert rec.connect(token), rec.connect_error
        check.event("session", rec.events["session"][0])
        return rec

    yield make
    for rec in made:
        rec.close()


def key(k: str = KEY) -> dict:
    return {"Authorization": "Bearer " + k}


def call(server: LiveServer, method: str, path: str, headers: dict, body: dict | None = None,
         schema: str | None = None, status: int = 200) -> dict:
    """One server API call; asserts the status and the documented body shape."""
    r = requests.request(method, server.url + "/api/server" + path, headers=headers, json=body, timeout=10)
    assert r.status_code == status, r.text
    data = r.json()
    if status >= 400:
        assert not contract.errors("Error", data), data
    elif schema:
        assert not contract.errors(schema, data), (schema, data)
    return data


def admin_token(server: LiveServer) -> str:
    r = requests.post(server.url + "/api/auth/login", json={"username": "boss", "password": PASSWORD}, timeout=10)
    return r.json()["access_token"]


def audit(server: LiveServer, kind: str) -> list[dict]:
    r = requests.get(server.url + "/api/audit", params={"kind": kind, "limit": 500},
                     headers=key(admin_token(server)), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def audited(server: LiveServer, kind: str, pred, count: int = 1) -> list[dict]:
    """The rows of a kind that satisfy pred, once at least `count` are written (the writer batches)."""
    rows: list[dict] = []

    def ready() -> bool:
        rows[:] = [e for e in audit(server, kind) if pred(e)]
        return len(rows) >= count

    assert wait_for(ready), f"fewer than {count} {kind} rows: {rows}"
    return rows


def room() -> str:
    return "r" + uuid.uuid4().hex[:8]


# Every operation, with a body that is valid for it.
OPERATIONS = [("post", "/rooms/lobby/messages", {"text": "hello"}), ("get", "/rooms/lobby/messages", None),
              ("get", "/rooms/lobby/presence", None), ("get", "/users/online", None),
              ("post", "/users/2/events", {"event": "ping"}), ("post", "/users/2/disconnect", {"revoke": False})]


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_refusals(server, method: str, path: str, body: dict | None) -> None:
    user = server.register()
    assert call(server, method, path, {}, body, status=401)["error"]["code"] == "auth_required"
    assert call(server, method, path, key("x" * 48), body, status=401)["error"]["code"] == "token_invalid"
    assert call(server, method, path, key(KEY[:-1]), body, status=401)["error"]["code"] == "token_invalid"
    assert call(server, method, path, key(user["access"]), body, status=403)["error"]["code"] == "forbidden"
    assert call(server, method, path, key(user["refresh"]), body, status=401)["error"]["code"] == "wrong_token_type"
    codes = {"auth_required", "token_invalid", "forbidden", "wrong_token_type"}
    audited(server, "server_refused", lambda e: e["detail"]["path"] == "/api/server" + path
            and e["detail"]["code"] in codes, count=5)


def test_publish_reaches_the_room_and_its_history(server, sockets) -> None:
    user, name = server.register(), room()
    sock = sockets(user["access"])
    check.ack("join", sock.call("join", {"room": name}))
    msg = call(server, "post", f"/rooms/{name}/messages", key(), {"text": "deploy at 5"}, "Message", 201)
    assert msg["user"] == "@server" and msg["room"] == name and msg["text"] == "deploy at 5"
    got = check.event("message", sock.wait("message")[0])
    assert got == msg
    later = call(server, "post", f"/rooms/{name}/messages", key(HASHED_KEY), {"text": "done"}, "Message", 201)
    page = call(server, "get", f"/rooms/{name}/messages", key(), schema="History")
    assert [m["id"] for m in page["messages"]] == [msg["id"], later["id"]] and page["truncated"] is False
    after = call(server, "get", f"/rooms/{name}/messages?since_id={msg['id']}", key(), schema="History")
    assert [m["id"] for m in after["messages"]] == [later["id"]]
    rejoin = check.ack("join", sock.call("join", {"room": name, "since_id": 0}))
    assert [m["user"] for m in rejoin["history"]] == ["@server", "@server"]
    rows = audited(server, "server_publish", lambda e: e["detail"]["room"] == name, count=2)
    assert {(e["detail"]["caller"], e["detail"]["message_id"]) for e in rows} == {
        ("key:ops", msg["id"]), ("key:cron", later["id"])}


def test_publish_limits_are_a_users(server) -> None:
    name = room()
    long = call(server, "post", f"/rooms/{name}/messages", key(), {"text": "x" * 2001}, status=400)
    assert long["error"]["code"] == "invalid_payload"
    ctrl = call(server, "post", f"/rooms/{name}/messages", key(), {"text": "a\x00b"}, status=400)
    assert ctrl["error"]["code"] == "invalid_payload"
    assert call(server, "post", "/rooms/bad%20name/messages", key(), {"text": "x"}, status=400)
    assert call(server, "post", f"/rooms/{name}/messages", key(), {"text": "x", "user": "alice"}, status=400)


def test_event_to_one_user_reaches_each_of_their_sockets_only(server, sockets) -> None:
    alice, bob = server.register(), server.register()
    tabs = [sockets(alice["access"]), sockets(alice["access"])]
    other = sockets(bob["access"])
    data = {"invoice": 7, "items": [1, 2, {"x": None}]}
    res = call(server, "post", f"/users/{alice['id']}/events", key(), {"event": "billing.paid", "data": data},
               "EmitResult")
    assert res == {"user_id": alice["id"], "sockets": 2}
    for tab in tabs:
        got = check.event("server_event", tab.wait("server_event")[0])
        assert got["event"] == "billing.paid" and got["data"] == data
    # The other user's socket answers an ack after the event would have arrived: nothing came.
    check.ack("whoami", other.call("whoami"))
    assert other.events["server_event"] == []
    assert call(server, "post", "/users/999999/events", key(), {"event": "x"}, status=404)["error"]["code"] == \
        "not_found"
    big = {"event": "x", "data": "y" * 70_000}  # over SOCKETIO_JWT_MAX_MESSAGE_BYTES (64 KiB)
    assert call(server, "post", f"/users/{alice['id']}/events", key(), big, status=413)["error"]["code"] == \
        "payload_too_large"
    rows = audited(server, "server_emit", lambda e: e["user_id"] == alice["id"])
    assert [e["detail"]["event"] for e in rows] == ["billing.paid"]


def test_presence_and_online_users(server, sockets) -> None:
    alice, name = server.register(), room()
    sock = sockets(alice["access"])
    check.ack("join", sock.call("join", {"room": name}))
    assert call(server, "get", f"/rooms/{name}/presence", key(), schema="Presence") == {
        "room": name, "members": [alice["username"]]}
    online = call(server, "get", "/users/online", key(), schema="OnlineUsers")
    assert {"id": alice["id"], "username": alice["username"], "sockets": 1} in online["users"]
    first = call(server, "get", "/users/online?limit=1", key(), schema="OnlineUsers")
    assert len(first["users"]) == 1
    if first["next_after_id"]:
        rest = call(server, "get", f"/users/online?after_id={first['next_after_id']}", key(), schema="OnlineUsers")
        assert all(int(u["id"]) > int(first["next_after_id"]) for u in rest["users"])
    sock.close()
    assert wait_for(lambda: call(server, "get", f"/rooms/{name}/presence", key())["members"] == [])
    audited(server, "server_read", lambda e: e["detail"]["op"] == "presence" and e["detail"]["room"] == name)
    audited(server, "server_read", lambda e: e["detail"]["op"] == "online")


def test_disconnect_one_token_then_the_user(server, sockets) -> None:
    first = server.register()
    second = server.register(first["username"])  # a second login: another token
    on_first, on_second = sockets(first["access"]), sockets(second["access"])
    jti = _jti(first["access"])
    res = call(server, "post", f"/users/{first['id']}/disconnect", key(), {"jti": jti}, "DisconnectResult")
    assert res == {"user_id": first["id"], "jtis": [jti], "revoked": True}
    assert check.event("auth_revoked", on_first.wait("auth_revoked")[0]) == {"code": "token_revoked"}
    assert on_first.disconnected.wait(5)
    check.ack("whoami", on_second.call("whoami"))  # the other token's socket stays
    again = Recorder(server.url)
    assert not again.connect(first["access"])
    assert check.event("connect_error", again.connect_error) == {
        "message": "token_revoked", "data": again.connect_error["data"]}
    again.close()
    # Without `revoke`: kicked, but the token still connects.
    third = server.register(first["username"])
    on_third = sockets(third["access"])
    res = call(server, "post", f"/users/{first['id']}/disconnect", key(), {"revoke": False}, "DisconnectResult")
    assert set(res["jtis"]) == {_jti(second["access"]), _jti(third["access"])} and res["revoked"] is False
    for sock in (on_second, on_third):
        sock.wait("auth_revoked")
        assert sock.disconnected.wait(5)
    sockets(third["access"])
    # With the admin's token, and revoking: every token of the user dies, connected or not.
    call(server, "post", f"/users/{first['id']}/disconnect", key(admin_token(server)), None, "DisconnectResult")
    assert requests.get(server.url + "/api/auth/me", headers=key(third["access"]), timeout=5).status_code == 401
    rows = audited(server, "server_disconnect", lambda e: e["user_id"] == first["id"], count=3)
    assert [e["detail"]["caller"].split(":")[0] for e in rows] == ["admin", "key", "key"]


def test_keys_never_reach_the_log_or_the_audit(server) -> None:
    call(server, "get", "/users/online", key())
    call(server, "get", "/users/online", key(KEY + "x"), status=401)
    audited(server, "server_refused", lambda e: e["detail"]["path"] == "/api/server/users/online")
    rows = json.dumps(audit(server, "server_read") + audit(server, "server_refused"))
    for text in (server.log_text(), rows):
        assert KEY not in text and HASHED_KEY not in text


def _jti(token: str) -> str:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})["jti"]
