"""Socket auth with the Flask-SocketIO test client: connect checks, expiry, refresh, revocation."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest

from extensions import db
from flask_socketio_jwt import get_state
from models import User
from tests.app.conftest import wait_for


def events(client, name: str) -> list:
    """Payloads of the events of one name the client got so far (also after a disconnect)."""
    return [e["args"][0] if e["args"] else None for e in list(client.queue) if e["name"] == name]


def refused_codes(app) -> list[str]:
    audit = get_state(app).audit
    return [r["detail"]["code"] for r in list(audit._queue) if r["kind"] == "connect_refused"]


def test_valid_token_connects_and_gets_session(socket_client, tokens):
    u = tokens.user("alice")
    c = socket_client(u["access"])
    assert c.is_connected()
    received = c.get_received()
    session = [e for e in received if e["name"] == "session"]
    assert len(session) == 1
    body = session[0]["args"][0]
    assert body["user"] == {"id": u["id"], "username": "alice"}
    assert isinstance(body["sid"], str) and body["expires_at"] > time.time()
    ack = c.emit("whoami", callback=True)
    assert ack == {"ok": True, "user": {"id": u["id"], "username": "alice"}, "expires_at": body["expires_at"]}


def test_bearer_header_fallback(socket_client, tokens):
    u = tokens.user()
    c = socket_client(auth=None, headers={"Authorization": "Bearer " + u["access"]})
    assert c.is_connected()
    assert c.emit("whoami", callback=True)["ok"] is True


def _bad_token(case: str, tokens, app) -> tuple[object, dict | None]:
    u = tokens.user()
    sub = u["id"]
    if case == "deleted_user":
        with app.app_context():
            db.session.delete(db.session.get(User, int(sub)))
            db.session.commit()
        return {"token": u["access"]}, None
    if case == "disabled_user":
        with app.app_context():
            db.session.get(User, int(sub)).is_active = False
            db.session.commit()
        return {"token": u["access"]}, None
    if case == "revoked":
        tokens.client.post("/api/auth/logout", headers={"Authorization": "Bearer " + u["access"]})
        return {"token": u["access"]}, None
    table = {
        "no_auth": None,
        "auth_not_object": "just-a-string",
        "auth_list": [u["access"]],
        "token_not_string": {"token": 12345},
        "token_missing": {"tok": u["access"]},
        "empty_token": {"token": ""},
        "garbage": {"token": "garbage"},
        "bad_signature": {"token": tokens.mint(sub, key="z" * 64)},
        "alg_none": {"token": tokens.mint(sub, key=None, alg="none")},
        "missing_claims": {"token": tokens.mint(sub, drop=("jti", "type"))},
        "missing_sub": {"token": tokens.mint(sub, drop=("sub",))},
        "expired": {"token": tokens.mint(sub, exp=int(time.time()) - 2)},
        "refresh_token": {"token": u["refresh"]},
    }
    return table[case], None


REFUSALS = [
    ("no_auth", "auth_required"), ("auth_not_object", "auth_required"), ("auth_list", "auth_required"),
    ("token_not_string", "auth_required"), ("token_missing", "auth_required"), ("empty_token", "auth_required"),
    ("garbage", "token_invalid"), ("bad_signature", "token_invalid"), ("alg_none", "token_invalid"),
    ("missing_claims", "token_invalid"), ("missing_sub", "token_invalid"), ("expired", "token_expired"),
    ("refresh_token", "wrong_token_type"), ("revoked", "token_revoked"), ("deleted_user", "user_unknown"),
    ("disabled_user", "user_unknown"),
]


@pytest.mark.parametrize(("case", "code"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals(app, socket_client, tokens, case, code):
    auth, _ = _bad_token(case, tokens, app)
    c = socket_client(auth=auth)
    assert not c.is_connected()
    assert refused_codes(app) == [code]
    assert get_state(app).registry.local == {}


def test_query_string_token_is_ignored(app, tokens):
    from extensions import socketio

    u = tokens.user()
    c = socketio.test_client(app, query_string=f"token={u['access']}")
    assert not c.is_connected()
    assert refused_codes(app) == ["auth_required"]


def test_live_socket_expires_at_exp(app, socket_client, tokens):
    u = tokens.user()
    c = socket_client(tokens.mint(u["id"], exp=int(time.time()) + 2))
    assert c.is_connected()
    assert wait_for(lambda: not c.is_connected(), timeout=5)
    assert events(c, "auth_expired") == [{"code": "token_expired"}]
    assert get_state(app).registry.local == {}


def test_refresh_keeps_the_socket_past_the_first_exp(app, socket_client, tokens):
    u = tokens.user()
    first_exp = int(time.time()) + 2
    c = socket_client(tokens.mint(u["id"], exp=first_exp))
    sid = c.get_received()[0]["args"][0]["sid"]
    new = tokens.mint(u["id"], exp=int(time.time()) + 60)
    ack = c.emit("refresh", {"token": new}, callback=True)
    assert ack["ok"] is True and ack["expires_at"] > first_exp
    # Past the first token's exp (plus the scheduler's tick) the socket must still be up.
    assert not wait_for(lambda: not c.is_connected(), timeout=first_exp + 1.5 - time.time())
    assert c.is_connected()
    who = c.emit("whoami", callback=True)
    assert who["ok"] and who["expires_at"] == ack["expires_at"]
    assert get_state(app).registry.get(sid).exp == ack["expires_at"]
    assert not any(e["name"] == "auth_expired" for e in c.get_received())


@pytest.mark.parametrize(("case", "code"), [
    ("other_user", "identity_mismatch"), ("refresh_type", "wrong_token_type"), ("garbage", "token_invalid"),
    ("expired", "token_expired"), ("not_object", "invalid_payload"), ("extra_field", "invalid_payload"),
])
def test_refresh_refusals_keep_the_old_token(app, socket_client, tokens, case, code):
    u, other = tokens.user(), tokens.user()
    c = socket_client(u["access"])
    payload = {
        "other_user": {"token": other["access"]},
        "refresh_type": {"token": u["refresh"]},
        "garbage": {"token": "x.y.z"},
        "expired": {"token": tokens.mint(u["id"], exp=int(time.time()) - 1)},
        "not_object": "token",
        "extra_field": {"token": u["access"], "x": 1},
    }[case]
    before = c.emit("whoami", callback=True)["expires_at"]
    ack = c.emit("refresh", payload, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == code
    assert c.is_connected() and c.emit("whoami", callback=True)["expires_at"] == before


def test_events_after_exp_never_reach_a_handler(app, socket_client, tokens):
    hub = get_state(app).hub
    u = tokens.user()
    c = socket_client(tokens.mint(u["id"], exp=int(time.time()) + 1))
    hub.expiry.stop()  # the timer is late: the per-event guard alone must hold the line
    assert wait_for(lambda: time.time() > hub.registry.local[next(iter(hub.registry.local))].exp + 0.05, timeout=3)
    ack = c.emit("join", {"room": "lobby"}, callback=True)
    assert ack == {"ok": False, "error": {"code": "token_expired", "message": "The token has expired."}}
    assert hub.registry.members("lobby") == []
    assert not [r for r in hub.audit._queue if r["kind"] == "join"]


def test_logout_kicks_that_token_only(app, client, socket_client, tokens):
    u, other = tokens.user(), tokens.user()
    mine = socket_client(u["access"])
    theirs = socket_client(other["access"])
    second_login = client.post("/api/auth/login", json={"username": u["username"], "password": "correct horse battery"})
    my_other_device = socket_client(second_login.get_json()["access_token"])
    r = client.post("/api/auth/logout", headers={"Authorization": "Bearer " + u["access"]}, json={})
    assert r.status_code == 200
    assert wait_for(lambda: not mine.is_connected(), timeout=1)
    assert events(mine, "auth_revoked") == [{"code": "token_revoked"}]
    assert theirs.is_connected() and my_other_device.is_connected()
    assert theirs.emit("whoami", callback=True)["ok"]


def test_logout_everywhere_kicks_every_socket_of_the_user(app, client, socket_client, tokens):
    u, other = tokens.user(), tokens.user()
    a = socket_client(u["access"])
    second = client.post("/api/auth/login", json={"username": u["username"], "password": "correct horse battery"})
    b_token = second.get_json()["access_token"]
    b = socket_client(b_token)
    theirs = socket_client(other["access"])
    r = client.post("/api/auth/logout", headers={"Authorization": "Bearer " + u["access"]}, json={"everywhere": True})
    revoked = r.get_json()["revoked"]
    jti = lambda t: pyjwt.decode(t, options={"verify_signature": False})["jti"]  # noqa: E731
    # Both live sockets' tokens, and the session of the token that logged out (its refresh token).
    assert set(revoked) == {jti(u["access"]), jti(b_token), jti(u["refresh"])}
    assert wait_for(lambda: not a.is_connected() and not b.is_connected(), timeout=1)
    assert theirs.is_connected()
    again = socket_client(b_token)
    assert not again.is_connected()
    assert refused_codes(app)[-1] == "token_revoked"


def test_handler_bug_answers_internal_error_and_socket_stays(app, socket_client, tokens, monkeypatch):
    import realtime.rooms as rooms

    def boom(*a, **k):
        raise RuntimeError("kaboom with internals")

    monkeypatch.setattr(rooms, "history", boom)
    c = socket_client(tokens.user()["access"])
    ack = c.emit("join", {"room": "lobby"}, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "internal_error"
    assert "kaboom" not in str(ack)
    assert c.is_connected() and c.emit("whoami", callback=True)["ok"]


def test_disconnect_cleans_registry_and_timer(app, socket_client, tokens):
    hub = get_state(app).hub
    c = socket_client(tokens.user()["access"])
    assert len(hub.registry.local) == 1 and hub.expiry.pending() == 1
    c.disconnect()
    assert hub.registry.local == {} and hub.expiry.pending() == 0
