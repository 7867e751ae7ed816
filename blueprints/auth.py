"""REST auth at /api/auth: register, login, refresh, logout (incl. everywhere), me."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, g, jsonify
from flask_jwt_extended import create_access_token, create_refresh_token, get_jti
from werkzeug.security import check_password_hash, generate_password_hash

from blueprints.common import error_body, json_object, remote_addr, token_required
from extensions import db, jwt, socket_jwt
from flask_socketio_jwt import Conflict, InvalidPayload, RateLimited, auth_error, get_state, run_blocking
from models import User
from realtime import dbwrite, tokens

bp = Blueprint("auth", __name__)

USERNAME_RE = re.compile(r"[A-Za-z0-9_.-]{3,32}")
MAX_PASSWORD = 1024


@lru_cache(maxsize=8)
def _dummy_hash(method: str) -> str:
    """Checked against when the user does not exist, with the configured method, so both
    failures take the same time."""
    return generate_password_hash("not-a-real-password-0", method)


def validate_credentials(data: dict) -> tuple[str, str]:
    """Username and password from a body, or InvalidPayload."""
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise InvalidPayload("`username` must be 3-32 characters of A-Z a-z 0-9 _ . -")
    if not isinstance(password, str) or not 8 <= len(password) <= MAX_PASSWORD:
        raise InvalidPayload(f"`password` must be a string of 8-{MAX_PASSWORD} characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise InvalidPayload("`password` may not contain control characters.")
    return username, password


def hash_password(password: str) -> str:
    """A salted hash (scrypt by default, `PASSWORD_HASH_METHOD`), computed off the event loop."""
    return run_blocking(generate_password_hash, password, current_app.config["PASSWORD_HASH_METHOD"])


def create_user(username: str, password: str, *, is_admin: bool = False) -> User:
    """Add and commit a user; Conflict when the name is taken."""
    password_hash = hash_password(password)

    def unit() -> User:
        if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username.lower())) is not None:
            raise Conflict()  # unique regardless of case (the database's index says so too)
        user = User(username=username, password_hash=password_hash, is_admin=is_admin)
        db.session.add(user)
        db.session.commit()
        return user

    try:
        return dbwrite.write(unit)
    except sa.exc.IntegrityError:  # lost a race for the same name
        raise Conflict() from None


def now_ms() -> int:
    """The wall clock in milliseconds (token issue times and "log out everywhere" compare on it)."""
    return time.time_ns() // 1_000_000


def issue_tokens(user: User) -> dict:
    """A fresh access and refresh token pair for a user: one login session.

    The refresh token's jti names the session; the access tokens of the session carry it as
    `ses`, so a logout revokes the whole session, later refreshed access tokens included.
    """
    identity, issued = str(user.id), now_ms()
    refresh = create_refresh_token(identity=identity, additional_claims={"iat_ms": issued})
    access = create_access_token(identity=identity, additional_claims={"ses": get_jti(refresh), "iat_ms": issued})
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": seconds(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"])}


def seconds(value: int | float | timedelta) -> int:
    """A lifetime setting in whole seconds: flask-jwt-extended accepts seconds or a timedelta."""
    return int(value.total_seconds()) if isinstance(value, timedelta) else int(value)


REGISTER_LIMIT_KEY = "realtime:register_limit"
LOGIN_LIMIT_KEY = "realtime:login_limit"


def _limit(app: Flask, key: str, name: str, default: list[float]) -> Any:
    """A failure counter of this app's own (`key`: [count, seconds]) on the extension's backend:
    in Redis when the socket layer uses it, so every process shares it."""
    value = app.config.get(key) or default
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(float(v) > 0 for v in value)):
        raise RuntimeError(f"{key} must be a pair of positive numbers")
    return socket_jwt.failure_counter(name, int(value[0]), float(value[1]), app=app)


@bp.post("/register")
def register():
    state, addr, limit = get_state(), remote_addr() or "?", current_app.extensions[REGISTER_LIMIT_KEY]
    retry = limit.retry_after(addr)  # REGISTER_LIMIT: accounts per address
    if retry:
        state.audit.enqueue("rate_limited", remote_addr=addr, scope="register")
        raise RateLimited(retry, "Too many registrations from this address; try again later.")
    username, password = validate_credentials(json_object({"username", "password"}, {"username", "password"}))
    limit.hit(addr)  # before the (costly) hash: every attempt counts, taken names too
    return jsonify(create_user(username, password).to_public()), 201


@bp.post("/login")
def login():
    state = get_state()
    addr = remote_addr() or "?"
    retry = state.hub.auth_failures.retry_after(addr)
    data = json_object({"username", "password"}, {"username", "password"})
    username, password = validate_credentials(data)
    # Per username *and* address: guessing from one address is slowed down, but nobody else can
    # lock the owner out of their account (the per-address limit above caps spraying).
    pair = f"{username.lower()}|{addr}"
    retry = max(retry, current_app.extensions[LOGIN_LIMIT_KEY].retry_after(pair))
    if retry:
        state.audit.enqueue("login_failed", remote_addr=addr, reason="rate_limited")
        raise RateLimited(retry)
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.lower()))
    dummy = _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"])
    ok = run_blocking(check_password_hash, user.password_hash if user else dummy, password)
    if not ok or user is None or not user.is_active:
        state.hub.auth_failures.hit(addr)
        current_app.extensions[LOGIN_LIMIT_KEY].hit(pair)
        state.audit.enqueue("login_failed", user_id=user.id if user else None, remote_addr=addr,
                            reason="invalid_credentials")
        raise auth_error("invalid_credentials")
    current_app.extensions[LOGIN_LIMIT_KEY].reset(pair)
    state.audit.enqueue("login", user_id=user.id, remote_addr=addr)
    return jsonify(issue_tokens(user))


@bp.post("/refresh")
@token_required("refresh")
def refresh():
    ident = g.identity
    get_state().audit.enqueue("refresh", user_id=ident.user_id, remote_addr=remote_addr(), via="rest")
    access = create_access_token(identity=ident.user_id, additional_claims={"ses": ident.ses, "iat_ms": now_ms()})
    return jsonify({"access_token": access, "token_type": "Bearer",
                    "expires_in": seconds(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"])})


@bp.post("/logout")
@token_required("access")
def logout():
    data = json_object({"everywhere"}, optional_body=True)
    everywhere = data.get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise InvalidPayload("`everywhere` must be a boolean.")
    state, ident = get_state(), g.identity
    # The whole login session: this access token and the refresh token it was issued with.
    revoked = {ident.jti, ident.ses} - {""}
    if everywhere:
        revoked |= state.registry.user_jtis(ident.user_id)
    far = int(time.time()) + seconds(current_app.config["JWT_REFRESH_TOKEN_EXPIRES"])
    before = now_ms()

    def unit() -> None:
        user = db.session.get(User, int(ident.user_id))
        if everywhere:
            # Tokens we never saw (other sessions' refresh tokens) die too: anything issued up to
            # this millisecond; a login a moment later is issued after it and stays valid.
            user.tokens_valid_after = before
        for jti in revoked:
            tokens.revoke(jti, user.id, ident.exp if jti == ident.jti else far)
        db.session.commit()

    dbwrite.write(unit)
    # Committed first, so a kicked client that reconnects with the same token is refused.
    socket_jwt.revoke(jtis=sorted(revoked), user_id=ident.user_id if everywhere else None,
                      issued_before_ms=before if everywhere else None)
    state.audit.enqueue("logout", user_id=ident.user_id, remote_addr=remote_addr(),
                        everywhere=everywhere, revoked=len(revoked))
    return jsonify({"revoked": sorted(revoked)})


@bp.get("/me")
@token_required("access")
def me():
    return jsonify(g.identity.public())


def _jwt_callbacks() -> None:
    """flask-jwt-extended's own guard (`@jwt_required` in reusing apps) runs the same checks."""
    @jwt.token_in_blocklist_loader
    def _revoked(_header: dict, payload: dict) -> bool:
        return tokens.is_revoked_token(payload)

    @jwt.user_lookup_loader
    def _user(_header: dict, payload: dict):
        return tokens.lookup_user(payload)

    @jwt.token_verification_loader
    def _claims_ok(header: dict, payload: dict) -> bool:
        try:
            tokens.check_header(header, current_app.config["JWT_ALGORITHM"])
        except Exception:
            return False
        return all(c in payload for c in tokens.REQUIRED_CLAIMS)

    def _fail(code: str):
        return error_body(code, tokens.auth_error(code).message, 401)

    jwt.expired_token_loader(lambda h, p: _fail("token_expired"))
    jwt.invalid_token_loader(lambda reason: _fail("token_invalid"))
    jwt.unauthorized_loader(lambda reason: _fail("auth_required"))
    jwt.revoked_token_loader(lambda h, p: _fail("token_revoked"))
    jwt.needs_fresh_token_loader(lambda h, p: _fail("token_invalid"))
    jwt.token_verification_failed_loader(lambda h, p: _fail("token_invalid"))
    jwt.user_lookup_error_loader(lambda h, p: _fail("user_unknown"))


_jwt_callbacks()


def init_app(app: Flask, url_prefix: str = "/api/auth") -> None:
    """Mount the auth API on an app whose db and jwt are bound."""
    from flask_jwt_extended.exceptions import WrongTokenError

    app.register_blueprint(bp, url_prefix=url_prefix)
    # This app's own limits, shared across processes like the extension's: registrations per
    # address, and failed logins per (username, address).
    app.extensions[REGISTER_LIMIT_KEY] = _limit(app, "REGISTER_LIMIT", "register", [20, 3600])
    app.extensions[LOGIN_LIMIT_KEY] = _limit(app, "LOGIN_FAILURE_LIMIT_PER_USER", "login", [10, 300])
    # flask-jwt-extended maps a wrong token type to its generic invalid-token answer.
    app.register_error_handler(WrongTokenError, lambda e: error_body(
        "wrong_token_type", tokens.auth_error("wrong_token_type").message, 401))
