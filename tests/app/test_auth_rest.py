"""REST auth API: every route's success and each listed error, bad bodies, bad tokens."""

from __future__ import annotations

import time

import pytest
from werkzeug.security import check_password_hash

from extensions import db
from flask_socketio_jwt import get_state
from models import RevokedToken, User
from tests.app.conftest import PASSWORD


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def err(resp) -> str:
    body = resp.get_json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]["code"]


def test_register_login_me_refresh(client, tokens):
    u = tokens.user("alice")
    assert u["id"].isdigit()
    r = client.get("/api/auth/me", headers=bearer(u["access"]))
    assert r.status_code == 200 and r.get_json() == {"id": u["id"], "username": "alice"}
    r = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    body = r.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    r = client.post("/api/auth/refresh", headers=bearer(u["refresh"]))
    assert r.status_code == 200
    fresh = r.get_json()
    assert fresh["token_type"] == "Bearer" and set(fresh) == {"access_token", "token_type", "expires_in"}
    assert client.get("/api/auth/me", headers=bearer(fresh["access_token"])).status_code == 200


def test_username_taken(client, tokens):
    tokens.user("bob")
    r = client.post("/api/auth/register", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 409 and err(r) == "username_taken"


def test_password_stored_hashed(app, tokens):
    tokens.user("carol")
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "carol"))
        assert PASSWORD not in user.password_hash
        assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
        assert check_password_hash(user.password_hash, PASSWORD)


def test_unknown_user_and_wrong_password_answer_the_same(client, tokens):
    tokens.user("dave")
    a = client.post("/api/auth/login", json={"username": "dave", "password": "wrong-password"})
    b = client.post("/api/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert a.status_code == b.status_code == 401
    assert a.get_json() == b.get_json()
    assert err(a) == "invalid_credentials"


BAD_BODIES = [
    ("not json", "text/plain", b"username=a&password=b"),
    ("broken json", "application/json", b"{\"username\": "),
    ("array", "application/json", b"[]"),
    ("string", "application/json", b"\"hello\""),
    ("null", "application/json", b"null"),
    ("missing password", "application/json", b"{\"username\": \"erin\"}"),
    ("missing username", "application/json", b"{\"password\": \"password123\"}"),
    ("extra field", "application/json", b"{\"username\": \"erin\", \"password\": \"password123\", \"admin\": true}"),
    ("int username", "application/json", b"{\"username\": 12345, \"password\": \"password123\"}"),
    ("list password", "application/json", b"{\"username\": \"erin\", \"password\": [\"password123\"]}"),
    ("short username", "application/json", b"{\"username\": \"ab\", \"password\": \"password123\"}"),
    ("long username", "application/json", b"{\"username\": \"" + b"a" * 33 + b"\", \"password\": \"password123\"}"),
    ("bad chars", "application/json", b"{\"username\": \"er in\", \"password\": \"password123\"}"),
    ("unicode username", "application/json", "{\"username\": \"\u00e9rin\", \"password\": \"password123\"}".encode()),
    ("short password", "application/json", b"{\"username\": \"erin\", \"password\": \"short\"}"),
    ("long password", "application/json", b"{\"username\": \"erin\", \"password\": \"" + b"p" * 1025 + b"\"}"),
    ("NUL in username", "application/json", b"{\"username\": \"er\\u0000in\", \"password\": \"password123\"}"),
    ("NUL in password", "application/json", b"{\"username\": \"erin\", \"password\": \"pass\\u0000word123\"}"),
    ("control char", "application/json", b"{\"username\": \"erin\", \"password\": \"pass\\u0007word123\"}"),
    ("newline username", "application/json", b"{\"username\": \"erin\\n\", \"password\": \"password123\"}"),
    ("invalid utf-8", "application/json", b"{\"username\": \"\xff\xfe\", \"password\": \"password123\"}"),
]


@pytest.mark.parametrize("route", ["/api/auth/register", "/api/auth/login"])
@pytest.mark.parametrize(("name", "ctype", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies(app, client, route, name, ctype, body):
    r = client.post(route, data=body, content_type=ctype)
    assert r.status_code == 400, (name, r.get_json())
    assert err(r) == "invalid_payload"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0


def test_huge_body_is_refused(app, client):
    r = client.post("/api/auth/register", data=b"{\"username\": \"" + b"a" * 3_000_000 + b"\"}",
                    content_type="application/json")
    assert r.status_code == 413 and err(r) == "payload_too_large"


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("get", "/api/nope", 404, "not_found"),
    ("get", "/api/auth/login", 405, "method_not_allowed"),
    ("delete", "/api/auth/me", 405, "method_not_allowed"),
    ("get", "/nope.html", 404, "not_found"),
])
def test_http_errors_are_json(client, method, path, status, code):
    r = getattr(client, method)(path)
    assert r.status_code == status and r.is_json and err(r) == code
    assert b"<html" not in r.data.lower()


def test_internal_error_is_json_without_traceback(app, client, monkeypatch):
    import blueprints.auth as auth_mod

    def boom(_user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(auth_mod, "issue_tokens", boom)
    client.post("/api/auth/register", json={"username": "frank", "password": PASSWORD})
    r = client.post("/api/auth/login", json={"username": "frank", "password": PASSWORD})
    assert r.status_code == 500 and err(r) == "internal_error"
    assert b"secret internals" not in r.data and b"Traceback" not in r.data


@pytest.mark.parametrize(("case", "expected"), [
    ("missing", "auth_required"),
    ("garbage", "token_invalid"),
    ("bad_signature", "token_invalid"),
    ("alg_none", "token_invalid"),
    ("hs512", "token_invalid"),
    ("missing_exp", "token_invalid"),
    ("missing_jti", "token_invalid"),
    ("missing_type", "token_invalid"),
    ("missing_iat", "token_invalid"),
    ("expired", "token_expired"),
    ("refresh_as_access", "wrong_token_type"),
    ("unknown_user", "user_unknown"),
    ("crit_header", "token_invalid"),
    ("huge", "token_invalid"),
])
def test_bad_access_tokens_on_me(client, tokens, case, expected):
    u = tokens.user()
    sub = u["id"]
    made = {
        "garbage": "not.a.token",
        "bad_signature": tokens.mint(sub, key="another-secret-" + "y" * 60),
        "alg_none": tokens.mint(sub, key=None, alg="none"),
        "hs512": tokens.mint(sub, alg="HS512"),
        "missing_exp": tokens.mint(sub, drop=("exp",)),
        "missing_jti": tokens.mint(sub, drop=("jti",)),
        "missing_type": tokens.mint(sub, drop=("type",)),
        "missing_iat": tokens.mint(sub, drop=("iat",)),
        "expired": tokens.mint(sub, exp=int(time.time()) - 5),
        "refresh_as_access": u["refresh"],
        "unknown_user": tokens.mint("999999"),
        "crit_header": tokens.mint(sub, headers={"crit": ["exp"]}),
        "huge": tokens.mint(sub, pad="x" * 9000),
    }
    headers = {} if case == "missing" else bearer(made[case])
    r = client.get("/api/auth/me", headers=headers)
    assert r.status_code == 401 and err(r) == expected


def test_access_token_cannot_refresh(client, tokens):
    u = tokens.user()
    r = client.post("/api/auth/refresh", headers=bearer(u["access"]))
    assert r.status_code == 401 and err(r) == "wrong_token_type"


def test_logout_ends_the_whole_login_session(app, client, tokens):
    u = tokens.user()
    refreshed = client.post("/api/auth/refresh", headers=bearer(u["refresh"])).get_json()["access_token"]
    r = client.post("/api/auth/logout", headers=bearer(u["access"]), json={})
    assert r.status_code == 200
    revoked = r.get_json()["revoked"]
    assert len(revoked) == 2  # the access token and the refresh token of that login
    with app.app_context():
        assert all(db.session.get(RevokedToken, jti) is not None for jti in revoked)
    r = client.get("/api/auth/me", headers=bearer(u["access"]))
    assert r.status_code == 401 and err(r) == "token_revoked"
    # The session's refresh token, and an access token it issued earlier, end with it.
    assert err(client.post("/api/auth/refresh", headers=bearer(u["refresh"]))) == "token_revoked"
    assert err(client.get("/api/auth/me", headers=bearer(refreshed))) == "token_revoked"
    # Logout with no body at all works too; another login's session is unaffected.
    again = client.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD}).get_json()
    assert client.get("/api/auth/me", headers=bearer(again["access_token"])).status_code == 200
    assert client.post("/api/auth/refresh", headers=bearer(again["refresh_token"])).status_code == 200
    assert client.post("/api/auth/logout", headers=bearer(again["access_token"])).status_code == 200


def test_logout_everywhere_revokes_tokens_issued_the_same_second(app, client, tokens):
    # No waiting for the next second: a login a moment before the call is revoked, one a
    # moment after is not (issue times compare to the millisecond).
    for _ in range(5):
        u = tokens.user()
        other = client.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD}).get_json()
        r = client.post("/api/auth/logout", headers=bearer(u["access"]), json={"everywhere": True})
        assert r.status_code == 200
        assert err(client.post("/api/auth/refresh", headers=bearer(other["refresh_token"]))) == "token_revoked"
        assert err(client.get("/api/auth/me", headers=bearer(other["access_token"]))) == "token_revoked"
        fresh = client.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD}).get_json()
        assert client.get("/api/auth/me", headers=bearer(fresh["access_token"])).status_code == 200
        assert client.post("/api/auth/refresh", headers=bearer(fresh["refresh_token"])).status_code == 200


def test_logout_everywhere_works_with_timedelta_lifetimes(tmp_path):
    from datetime import timedelta

    from tests.app.conftest import Tokens, built_app

    with built_app(tmp_path, JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=5),
                   JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=2)) as application:
        c = application.test_client()
        u = Tokens(application, c).user()
        r = c.post("/api/auth/logout", headers=bearer(u["access"]), json={"everywhere": True})
        assert r.status_code == 200, r.get_json()
        assert c.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD}
                      ).get_json()["expires_in"] == 300


def test_jwt_required_in_a_reusing_app_honours_logout_everywhere(app, client, tokens):
    from flask_jwt_extended import jwt_required

    @app.get("/api/reuse-probe")
    @jwt_required()
    def probe():
        return {"ok": True}

    u = tokens.user()
    other = client.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD}).get_json()
    assert client.get("/api/reuse-probe", headers=bearer(other["access_token"])).status_code == 200
    client.post("/api/auth/logout", headers=bearer(u["access"]), json={"everywhere": True})
    r = client.get("/api/reuse-probe", headers=bearer(other["access_token"]))
    assert r.status_code == 401 and err(r) == "token_revoked"


@pytest.mark.parametrize("spelled", ["ADMIN", "Admin", "aDmIn"])
def test_usernames_are_unique_regardless_of_case(client, tokens, spelled):
    tokens.user("admin")
    r = client.post("/api/auth/register", json={"username": spelled, "password": PASSWORD})
    assert r.status_code == 409 and err(r) == "username_taken"
    # And the login finds the one account whatever the case typed.
    assert client.post("/api/auth/login", json={"username": spelled, "password": PASSWORD}).status_code == 200


def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(app, client, tokens):
    u = tokens.user()
    limit = app.config["LOGIN_FAILURE_LIMIT_PER_USER"][0]
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    for _ in range(limit + 2):
        client.post("/api/auth/login", json={"username": u["username"], "password": "wrong-password"},
                    environ_base=attacker)
    r = client.post("/api/auth/login", json={"username": u["username"], "password": "wrong-password"},
                    environ_base=attacker)
    assert r.status_code == 429 and err(r) == "rate_limited"
    # The owner, from their own address, still gets in.
    r = client.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD})
    assert r.status_code == 200


def test_unknown_user_costs_the_same_hash_as_a_wrong_password(app, monkeypatch):
    from blueprints import auth

    seen = []
    real = auth.check_password_hash
    monkeypatch.setattr(auth, "check_password_hash", lambda h, p: seen.append(h.split("$")[0]) or real(h, p))
    c = app.test_client()
    Tokens_ = __import__("tests.app.conftest", fromlist=["Tokens"]).Tokens
    u = Tokens_(app, c).user()
    c.post("/api/auth/login", json={"username": u["username"], "password": "wrong-password"})
    c.post("/api/auth/login", json={"username": "nobody-here", "password": "wrong-password"})
    method = app.config["PASSWORD_HASH_METHOD"]
    assert seen[-2:] == [method, method]


@pytest.mark.parametrize("body", [{"everywhere": "yes"}, {"everywhere": 1}, {"other": True}, []])
def test_logout_bad_body(client, tokens, body):
    u = tokens.user()
    r = client.post("/api/auth/logout", headers=bearer(u["access"]), json=body)
    assert r.status_code == 400 and err(r) == "invalid_payload"
    assert client.get("/api/auth/me", headers=bearer(u["access"])).status_code == 200


def test_disabled_user_is_refused(app, client, tokens):
    u = tokens.user()
    with app.app_context():
        db.session.get(User, int(u["id"])).is_active = False
        db.session.commit()
    assert err(client.get("/api/auth/me", headers=bearer(u["access"]))) == "user_unknown"
    r = client.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD})
    assert r.status_code == 401 and err(r) == "invalid_credentials"


def test_login_rate_limited_per_address(app, client, tokens):
    app.config["SOCKETIO_JWT_AUTH_FAILURE_LIMIT"] = [3, 60]
    get_state(app).hub.auth_failures.limit = 3
    tokens.user("gina")
    for _ in range(3):
        r = client.post("/api/auth/login", json={"username": "gina", "password": "wrong-pass"})
        assert r.status_code == 401
    r = client.post("/api/auth/login", json={"username": "gina", "password": PASSWORD})
    assert r.status_code == 429 and err(r) == "rate_limited"
    assert r.get_json()["error"]["retry_after"] > 0


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok" and body["database"] == "ok" and "audit_writer" in body


def test_healthz_reports_database_down(app, client, tmp_path):
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:////nonexistent-dir/x.sqlite"
    with app.app_context():
        db.engine.dispose()
    from sqlalchemy import create_engine

    bad = create_engine("sqlite:////nonexistent-dir/x.sqlite")
    ext = app.extensions["sqlalchemy"]
    old = ext._app_engines[app][None]
    ext._app_engines[app][None] = bad
    try:
        r = client.get("/healthz")
        assert r.status_code == 503
        assert r.get_json()["database"].startswith("down")
    finally:
        ext._app_engines[app][None] = old


def test_lifetimes_as_timedelta_work_like_seconds(tmp_path):
    """flask-jwt-extended's docs set the lifetimes as timedelta: logout and expires_in still work."""
    from datetime import timedelta

    from tests.app.conftest import Tokens, built_app

    with built_app(tmp_path, JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=5),
                   JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=2)) as application:
        http = application.test_client()
        u = Tokens(application, http).user()
        r = http.post("/api/auth/refresh", headers={"Authorization": "Bearer " + u["refresh"]})
        assert r.status_code == 200 and r.get_json()["expires_in"] == 300
        r = http.post("/api/auth/logout", headers={"Authorization": "Bearer " + u["access"]})
        assert r.status_code == 200, r.get_json()
