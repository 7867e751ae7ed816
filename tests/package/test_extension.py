"""flask_socketio_jwt on a minimal host, in-process: binding, accessors, revoke, the test helper, patch checks."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt as pyjwt
import pytest
from flask import Flask
from flask_jwt_extended import JWTManager, current_user, get_jwt, get_jwt_header, get_jwt_identity
from flask_socketio import SocketIO

from flask_socketio_jwt import AuthNamespace, SocketJWT, access_token, get_state, socket_client
from flask_socketio_jwt import patches as patch_checks
from flask_socketio_jwt.core.tokens import stock_decode
from flask_socketio_jwt.hardening import HARDENING_KEY
from flask_socketio_jwt.patches import jwtdecode

SECRET = "host-secret-" + "s" * 40
USERS = {"7": "ann", "8": "bob"}
BANNED: set[str] = set()


class EchoNamespace(AuthNamespace):
    def on_whoami(self, payload):
        return {"identity": get_jwt_identity(), "jti": get_jwt()["jti"], "alg": get_jwt_header()["alg"],
                "user": str(current_user), "payload": payload}

    def on_boom(self, payload):
        raise RuntimeError("internals")


def make_host(tmp_path: Path, **config) -> tuple[Flask, SocketIO, SocketJWT]:
    app = Flask("host", instance_path=str(tmp_path))
    app.config.update(JWT_SECRET_KEY=SECRET, SOCKETIO_JWT_ASYNC_MODE="threading", SOCKETIO_JWT_GC_FREEZE_INTERVAL=0,
                      JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=5), **config)
    jwt = JWTManager(app)
    jwt.user_lookup_loader(lambda _h, claims: None if claims["sub"] in BANNED else USERS.get(claims["sub"]))
    socketio, ext = SocketIO(), SocketJWT()
    ext.init_app(app, socketio)
    socketio.on_namespace(EchoNamespace("/x"))
    return app, socketio, ext


@pytest.fixture
def host(tmp_path) -> Iterator[tuple[Flask, SocketIO, SocketJWT]]:
    app, socketio, ext = make_host(tmp_path)
    yield app, socketio, ext
    get_state(app).hub.close()
    get_state(app).audit.close()


def test_init_app_needs_the_jwt_manager(tmp_path):
    app = Flask("bare", instance_path=str(tmp_path))
    with pytest.raises(RuntimeError, match="JWTManager"):
        SocketJWT().init_app(app, SocketIO())


def test_init_app_binds_with_setdefault_and_keeps_no_app(host):
    app, socketio, ext = host
    assert app.extensions["flask-socketio-jwt"] is ext and not hasattr(ext, "app")
    assert app.config["SOCKETIO_JWT_RATE_LIMIT"] == [20, 40] and app.config["SOCKETIO_JWT_ASYNC_MODE"] == "threading"
    assert get_state(app).audit.enabled is False  # no audit table given: no rows, no table


def test_accessors_in_handlers_and_error_acks(host):
    app, socketio, _ = host
    token = access_token(app, "7", role="admin")
    c = socket_client(app, token, namespace="/x")
    assert c.is_connected("/x") and c.refusal is None
    session = c.get_received("/x")[0]["args"][0]
    assert session["user"] == {"id": "7"}
    ack = c.emit("whoami", {"a": 1}, callback=True, namespace="/x")
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert ack == {"identity": "7", "jti": claims["jti"], "alg": "HS256", "user": "ann", "payload": {"a": 1}}
    assert c.emit("boom", callback=True, namespace="/x")["error"]["code"] == "internal_error"
    assert c.emit("connect", {}, callback=True, namespace="/x")["error"]["code"] == "invalid_payload"
    assert c.emit("missing", callback=True, namespace="/x")["error"]["code"] == "invalid_payload"
    assert c.is_connected("/x")


def test_claims_kept_per_socket_share_their_names():
    """Every socket keeps its token's claims for get_jwt(); the names are one string for all."""
    import json
    import sys

    from flask_socketio_jwt.core.tokens import compact_claims

    decoded = [json.loads(f'{{"sub": "7", "jti": "{i}", "type": "access", "role": "admin"}}') for i in range(2)]
    kept = [compact_claims(c) for c in decoded]
    assert kept == decoded  # same names, same values
    names = [list(k) for k in kept]
    assert all(a is b for a, b in zip(*names, strict=True))
    assert kept[0]["type"] is kept[1]["type"] is sys.intern("access")


def test_refresh_reflects_the_new_token_in_accessors(host):
    app, _, _ = host
    c = socket_client(app, access_token(app, "7"), namespace="/x")
    new = access_token(app, "7")
    assert c.emit("refresh", {"token": new}, callback=True, namespace="/x")["ok"] is True
    new_jti = pyjwt.decode(new, options={"verify_signature": False})["jti"]
    assert c.emit("whoami", callback=True, namespace="/x")["jti"] == new_jti
    other = access_token(app, "8")
    assert c.emit("refresh", {"token": other}, callback=True, namespace="/x")["error"]["code"] == "identity_mismatch"


def test_test_helper_shows_refusals(host):
    app, _, _ = host
    assert socket_client(app, "garbage", namespace="/x").refusal_code == "token_invalid"
    refused = socket_client(app, access_token(app, "99"), namespace="/x")
    assert refused.refusal == {"code": "user_unknown", "message": "The user does not exist or is disabled."}
    assert socket_client(app, auth=None, namespace="/x").refusal_code == "auth_required"


def test_revoke_by_jti_and_by_user(host):
    app, _, ext = host
    token = access_token(app, "8")
    a, b = socket_client(app, token, namespace="/x"), socket_client(app, access_token(app, "8"), namespace="/x")
    keep = socket_client(app, access_token(app, "7"), namespace="/x")
    with app.app_context():
        ext.revoke(jti=pyjwt.decode(token, options={"verify_signature": False})["jti"])
    assert not a.is_connected("/x") and b.is_connected("/x")
    assert [e["args"][0] for e in a.queue if e["name"] == "auth_revoked"] == [{"code": "token_revoked"}]
    with app.app_context():
        ext.revoke(user_id=8)
    assert not b.is_connected("/x") and keep.is_connected("/x")


def test_one_parse_decode_matches_decode_token(tmp_path):
    app, _, _ = make_host(tmp_path, JWT_DECODE_AUDIENCE="chat", JWT_ENCODE_AUDIENCE="chat", JWT_DECODE_LEEWAY=5)
    try:
        assert app.extensions[HARDENING_KEY].one_parse_decode is True
        with app.app_context():
            token = access_token(app, "7")
            assert jwtdecode.decode(token) == stock_decode(token)
            bare = pyjwt.encode({"sub": "7", "exp": 2**31, "aud": "chat"}, SECRET, algorithm="HS256")
            assert jwtdecode.decode(bare) == stock_decode(bare)  # type/fresh/jti filled in alike
            for bad in (pyjwt.encode({"sub": "7", "exp": 2**31, "aud": "x"}, SECRET, algorithm="HS256"),
                        pyjwt.encode({"exp": 2**31, "aud": "chat"}, SECRET, algorithm="HS256")):
                with pytest.raises(Exception) as one:
                    jwtdecode.decode(bad)
                with pytest.raises(Exception) as stock:
                    stock_decode(bad)
                assert type(one.value) is type(stock.value)
    finally:
        get_state(app).hub.close()


SPEED_PATCHES = ("manager", "context", "eventtask", "jwtdecode")
GUARDS = ("framing", "timeouts", "backpressure")


def test_speed_patches_skip_with_one_log_line_on_other_versions(tmp_path, monkeypatch, caplog):
    import importlib

    monkeypatch.setattr(patch_checks, "_warned", set())
    for name in SPEED_PATCHES:  # written for versions that are not installed
        module = importlib.import_module(f"flask_socketio_jwt.patches.{name}")
        monkeypatch.setattr(module, "WRITTEN_FOR", {"Flask": ("99", "100")})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app, _, _ = make_host(tmp_path)
        make_host(tmp_path / "second")  # a second app in the process: no second line
    assert not [w for w in caught if "flask_socketio_jwt" in str(w.message)]  # never a Python warning
    skipped = [r.getMessage() for r in caplog.records if "not installed, the stock behaviour runs" in r.getMessage()]
    names = {m.split("'")[1] for m in skipped}
    assert len(skipped) == len(names) and set(SPEED_PATCHES) <= names
    handles = app.extensions[HARDENING_KEY]
    assert not (handles.event_context or handles.one_parse_decode)
    # The guards are not speed changes: they are in place all the same.
    assert handles.binary_refused and handles.connect_timeout is not None and handles.send_queue is not None
    c = socket_client(app, access_token(app, "7"), namespace="/x")  # the stock path still serves the contract
    assert c.emit("whoami", callback=True, namespace="/x")["identity"] == "7"
    get_state(app).hub.close()


@pytest.mark.parametrize("guard", GUARDS)
def test_a_guard_that_cannot_go_in_stops_start_up(tmp_path, monkeypatch, guard):
    import importlib

    module = importlib.import_module(f"flask_socketio_jwt.patches.{guard}")
    monkeypatch.setattr(module, "WRITTEN_FOR", {"python-socketio": ("99", "100")})
    with pytest.raises(RuntimeError, match=f"cannot put its '{guard}' guard in place"):
        make_host(tmp_path)


def test_one_setting_switches_every_speed_patch_off_and_no_guard(tmp_path, monkeypatch):
    monkeypatch.setattr(patch_checks, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app, socketio, _ = make_host(tmp_path, SOCKETIO_JWT_PATCHES=False)
    assert not [w for w in caught if "flask_socketio_jwt" in str(w.message)]
    handles = app.extensions[HARDENING_KEY]
    assert not any([handles.event_context, handles.one_parse_decode, handles.lean_sockets,
                    handles.untracked_event_tasks])
    assert handles.binary_refused and handles.websocket_hardened
    assert handles.connect_timeout is not None and handles.send_queue is not None
    assert type(socketio.server.manager).__name__ == "Manager"
    c = socket_client(app, access_token(app, "7"), namespace="/x")
    assert c.emit("whoami", callback=True, namespace="/x")["user"] == "ann"
    get_state(app).hub.close()


def test_the_sweep_checks_live_sockets_with_the_hosts_own_loaders(host):
    app, _, _ = host
    kept, banned = socket_client(app, access_token(app, "7"), namespace="/x"), \
        socket_client(app, access_token(app, "8"), namespace="/x")
    assert kept.is_connected("/x") and banned.is_connected("/x")
    BANNED.add("8")  # the host's user loader now refuses 8; nobody called revoke()
    try:
        assert get_state(app).hub.sweeper.sweep() == 1
    finally:
        BANNED.discard("8")
    assert kept.is_connected("/x") and not banned.is_connected("/x")


def test_revoke_names_a_session_and_an_instant(host):
    app, _, ext = host
    iat = int(time.time())
    ms = iat * 1000  # iat_ms counts only within the token's own `iat` second

    def token(ses: str, offset: int) -> str:
        return access_token(app, "7", ses=ses, iat=iat, iat_ms=ms + offset)

    early = socket_client(app, token("login-1", 100), namespace="/x")
    late = socket_client(app, token("login-2", 300), namespace="/x")
    with app.app_context():
        ext.revoke(jti="login-1")  # a session: every socket whose token has it as `ses`
    assert not early.is_connected("/x") and late.is_connected("/x")
    again = socket_client(app, token("login-3", 200), namespace="/x")
    with app.app_context():
        ext.revoke(user_id=7, issued_before_ms=ms + 250)  # spares tokens issued after the instant
    assert not again.is_connected("/x") and late.is_connected("/x")


@pytest.mark.parametrize(("offset", "counted"), [(0, 0), (999, 999), (1000, 0), (86_400_000, 0), (-1, 0)])
def test_iat_ms_counts_only_within_the_iat_second(offset, counted):
    from flask_socketio_jwt.core.revocation import issued_ms

    assert issued_ms({"iat": 1_700_000_000, "iat_ms": 1_700_000_000_000 + offset}) == 1_700_000_000_000 + counted
