"""Hostile clients in-process: handler crashes, event floods, connect floods, JWT header tricks."""

from __future__ import annotations

import socket
import time

import pytest

from extensions import db
from flask_socketio_jwt import get_state
from models import AuditEvent


def audit(app, kind: str) -> list[AuditEvent]:
    """Flush the audit writer and return the rows of one kind."""
    get_state(app).audit.flush()
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.kind == kind)).all())


def test_handler_exception_acks_internal_error_and_socket_stays_up(app, tokens, socket_client, monkeypatch):
    from sockets.namespace import RealtimeNamespace

    def boom(self, info, payload):
        raise RuntimeError("secret internals at /srv/app.py line 3")

    monkeypatch.setattr(RealtimeNamespace, "on_presence", boom)
    c = socket_client(tokens.user()["access"])
    ack = c.emit("presence", {"room": "lobby"}, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "internal_error"
    assert "secret" not in str(ack) and "Traceback" not in str(ack)
    assert c.is_connected() and c.emit("whoami", callback=True)["ok"] is True
    rows = audit(app, "error")
    assert rows and rows[-1].detail["event"] == "presence"


def test_event_flood_rate_limited_then_kicked(app, tokens, socket_client):
    get_state(app).hub.event_rate = (5, 10)
    get_state(app).hub.abuse_disconnect = 2
    c = socket_client(tokens.user()["access"])
    acks = []
    for _ in range(200):
        if not c.is_connected():
            break
        acks.append(c.emit("whoami", callback=True))
    assert [a["ok"] for a in acks[:10]] == [True] * 10
    refused = [a for a in acks if a and not a["ok"]]
    assert refused[0]["error"]["code"] == "rate_limited" and refused[0]["error"]["retry_after"] > 0
    assert not c.is_connected() and 20 <= len(refused) <= 25  # 2 bursts of strikes, then the kick
    assert len(audit(app, "rate_limited")) == 1  # one row for the episode
    assert [r.detail["code"] for r in audit(app, "kick")] == ["rate_limited"]


def test_refused_connect_flood_turns_into_rate_limited(app, tokens, socket_client):
    get_state(app).hub.auth_failures.limit = 3
    good = tokens.user()["access"]
    for _ in range(3):
        assert not socket_client("garbage").is_connected()
    assert not socket_client(good).is_connected()  # the address is blocked, even for a good token
    codes = [r.detail["code"] for r in audit(app, "connect_refused")]
    assert codes == ["token_invalid"] * 3 + ["rate_limited"]


def test_login_flood_per_username(app, client, tokens):
    app.extensions["realtime:login_limit"].limit = 2
    u = tokens.user()
    for _ in range(2):
        assert client.post("/api/auth/login", json={"username": u["username"], "password": "wrong-pass"}
                           ).status_code == 401
    r = client.post("/api/auth/login", json={"username": u["username"], "password": "correct horse battery"})
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited"


def test_foreign_origin_refused_configured_accepted(app, tokens, socket_client):
    app.config["SOCKETIO_JWT_CORS_ALLOWED_ORIGINS"] = ["http://ok.example"]
    token = tokens.user()["access"]
    assert not socket_client(token, headers={"Origin": "http://evil.example"}).is_connected()
    assert socket_client(token, headers={"Origin": "http://ok.example"}).is_connected()
    assert socket_client(token, headers={"Origin": "http://localhost"}).is_connected()  # same origin
    assert [r.detail["code"] for r in audit(app, "connect_refused")] == ["origin_forbidden"]


def test_jku_and_x5u_are_never_fetched(client, tokens):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.3)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/keys"
        u = tokens.user()
        token = tokens.mint(u["id"], headers={"jku": url, "x5u": url, "kid": url})
        assert client.get("/api/auth/me", headers={"Authorization": "Bearer " + token}).status_code == 200
        with pytest.raises(TimeoutError):
            listener.accept()


@pytest.mark.parametrize(("setting", "value"), [("JWT_DECODE_LEEWAY", 31), ("JWT_DECODE_LEEWAY", -1),
                                                ("JWT_ALGORITHM", "none"), ("JWT_ALGORITHM", "HS1"),
                                                ("JWT_SECRET_KEY", "short"), ("SOCKETIO_JWT_CONNECT_TIMEOUT", 0),
                                                ("SOCKETIO_JWT_RATE_LIMIT", [0, 5]),
                                                ("SOCKETIO_JWT_AUTH_FAILURE_LIMIT", 5)])
def test_unsafe_settings_refuse_to_start(tmp_path, setting, value):
    from app import create_app

    with pytest.raises(RuntimeError):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}", "SECRET_KEY": "s" * 40,
                    "JWT_SECRET_KEY": "k" * 40, "SOCKETIO_JWT_ASYNC_MODE": "threading", setting: value})


def test_audience_issuer_and_leeway(tmp_path):
    """Audience, issuer and leeway as the REST API and the socket see them (the same checks)."""
    import jwt as pyjwt

    from app import create_app
    from flask_socketio_jwt import socket_client

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'a.sqlite'}", "SECRET_KEY": "s" * 40,
                      "JWT_SECRET_KEY": "k" * 40, "SOCKETIO_JWT_ASYNC_MODE": "threading",
                      "SOCKETIO_JWT_AUDIT_ENABLED": False, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                      "JWT_AUDIENCE": "chat", "JWT_ISSUER": "https://issuer.example", "JWT_DECODE_LEEWAY": 30})
    try:
        with app.app_context():
            db.create_all()
        http = app.test_client()
        r = http.post("/api/auth/register", json={"username": "aud1", "password": "long enough 1"})
        assert r.status_code == 201
        now = int(time.time())
        base = {"sub": "1", "iat": now, "jti": "j", "type": "access", "exp": now + 60}

        def code(claims: dict) -> str:
            token = pyjwt.encode(claims, "k" * 40, algorithm="HS256")
            r = http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            rest = "ok" if r.status_code == 200 else r.get_json()["error"]["code"]
            sock = socket_client(app, token)
            assert (sock.refusal_code or "ok") == rest  # the socket answers as REST does
            return rest

        good = {**base, "aud": "chat", "iss": "https://issuer.example"}
        assert code(good) == "ok"
        assert code({**good, "jti": "j2", "exp": now - 20}) == "ok"  # within the 30 s leeway
        for bad in ({**base, "aud": "other", "iss": "https://issuer.example"}, {**base, "iss": "https://issuer.example"},
                    {**base, "aud": "chat", "iss": "https://evil.example"}, {**base, "aud": "chat"}):
            assert code(bad) == "token_invalid"
        assert code({**good, "jti": "j3", "exp": now - 40}) == "token_expired"
        with app.app_context():
            from flask_jwt_extended import create_access_token, decode_token

            issued = create_access_token("1")
            assert decode_token(issued)["aud"] == "chat" and decode_token(issued)["iss"] == "https://issuer.example"
    finally:
        get_state(app).hub.close()
