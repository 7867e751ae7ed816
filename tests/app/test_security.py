"""Revocation races and the safety net, in process with deterministic hooks; instance-folder safety."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import jwt as pyjwt
import pytest
import sqlalchemy as sa

from extensions import db
from flask_socketio_jwt import get_state
from models import AuditEvent, User
from tests.app.conftest import PASSWORD, wait_for


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def hold_verify_register_window(app, monkeypatch, during) -> None:
    """Run `during()` after the connect's token check passed and before the socket is registered."""
    registry = get_state(app).registry
    real_add = registry.add

    def add(info, cap):
        during()
        return real_add(info, cap)

    monkeypatch.setattr(registry, "add", add)


def test_logout_everywhere_inside_the_verify_register_window_refuses_the_connect(
        app, client, tokens, socket_client, monkeypatch):
    victim = tokens.user()
    stolen = client.post("/api/auth/login", json={"username": victim["username"], "password": PASSWORD}
                         ).get_json()["access_token"]
    hold_verify_register_window(app, monkeypatch, lambda: client.post(
        "/api/auth/logout", headers=bearer(victim["access"]), json={"everywhere": True}))
    c = socket_client(stolen)
    assert not c.is_connected()
    assert get_state(app).registry.local_sids(user_id=victim["id"]) == []


def test_plain_logout_inside_the_window_refuses_that_session_only(app, client, tokens, socket_client, monkeypatch):
    u = tokens.user()
    hold_verify_register_window(app, monkeypatch, lambda: client.post(
        "/api/auth/logout", headers=bearer(u["access"]), json={}))
    assert not socket_client(u["access"]).is_connected()
    monkeypatch.undo()
    other = client.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD}).get_json()
    assert socket_client(other["access_token"]).is_connected()


def test_refresh_event_inside_the_window_is_refused(app, client, tokens, socket_client, monkeypatch):
    u = tokens.user()
    c = socket_client(u["access"])
    second = client.post("/api/auth/login", json={"username": u["username"], "password": PASSWORD}
                         ).get_json()["access_token"]
    registry = get_state(app).registry
    hub = get_state(app).hub
    real_refreshed = hub.refreshed

    def refreshed(sid, ident, mark=None):
        client.post("/api/auth/logout", headers=bearer(second), json={})  # lands between verify and swap
        return real_refreshed(sid, ident, mark)

    monkeypatch.setattr(hub, "refreshed", refreshed)
    ack = c.emit("refresh", {"token": second}, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "token_revoked"
    (sid,) = registry.local_sids(user_id=u["id"])
    assert registry.get(sid).jti == pyjwt.decode(u["access"], options={"verify_signature": False})["jti"]


def test_the_sweep_kicks_a_socket_whose_revocation_message_was_lost(app, client, tokens, socket_client, monkeypatch):
    u = tokens.user()
    c = socket_client(u["access"])
    c.get_received()
    hub = get_state(app).hub
    monkeypatch.setattr(hub.bus, "publish", lambda message: None)  # the bus drops everything
    client.post("/api/auth/logout", headers=bearer(u["access"]), json={})
    assert c.is_connected()
    assert hub.sweeper.sweep() == 1
    assert not c.is_connected()
    get_state(app).audit.flush()
    with app.app_context():
        kicks = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.kind == "kick")).all()
    assert [(k.user_id, k.detail) for k in kicks] == [(int(u["id"]), {"code": "token_revoked"})]


def test_the_sweep_kicks_a_disabled_user(app, tokens, socket_client):
    u, other = tokens.user(), tokens.user()
    c, keep = socket_client(u["access"]), socket_client(other["access"])
    c.get_received()
    told = []
    transport = get_state(app).hub.transport
    real_emit = transport.emit
    transport.emit = lambda event, data, to, namespace="/": told.append((event, data)) or real_emit(
        event, data, to, namespace)
    with app.app_context():
        db.session.get(User, int(u["id"])).is_active = False
        db.session.commit()
    assert get_state(app).hub.sweeper.sweep() == 1
    assert not c.is_connected() and keep.is_connected()
    assert told == [("auth_revoked", {"code": "user_unknown"})]  # terminal for clients: no reconnect loop


def test_the_sweep_runs_by_itself(tmp_path, tokens):
    from tests.app.conftest import built_app, socket_clients

    with built_app(tmp_path, SOCKETIO_JWT_REVALIDATE_INTERVAL=0.05) as application:
        from tests.app.conftest import Tokens

        c = application.test_client()
        u = Tokens(application, c).user()
        with socket_clients(application) as make:
            sock = make(u["access"])
            hub = get_state(application).hub
            hub.bus.publish = lambda message: None
            c.post("/api/auth/logout", headers=bearer(u["access"]), json={})
            assert wait_for(lambda: not sock.is_connected(), timeout=5)


def test_a_user_event_budget_outlives_reconnects(app, tokens, socket_client):
    get_state(app).hub.event_rate = (0.001, 3)
    u = tokens.user()
    oks = 0
    for _ in range(3):
        c = socket_client(u["access"])
        oks += sum(bool(c.emit("whoami", callback=True)["ok"]) for _ in range(3))
        c.disconnect()
    assert oks == 3


# -- the instance folder ----------------------------------------------------------------------

def test_default_database_and_secrets_are_private(tmp_path, monkeypatch):
    from app import create_app

    instance = tmp_path / "inst"
    monkeypatch.setattr("flask.Flask.auto_find_instance_path", lambda self: str(instance))
    application = create_app({"TESTING": True, "SOCKETIO_JWT_ASYNC_MODE": "threading",
                              "SOCKETIO_JWT_GC_FREEZE_INTERVAL": 0,
                              "SOCKETIO_JWT_AUDIT_SPILL_FILE": str(tmp_path / "spill.jsonl")})
    try:
        with application.app_context():
            db.create_all()
        for path in (instance / "realtime.sqlite", instance / "secrets.json"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    finally:
        state = get_state(application)
        state.audit.close()
        state.hub.close()
        with application.app_context():
            db.engine.dispose()


_CHILD = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import config
from flask_socketio_jwt import get_state
go = Path(sys.argv[2]) / "go"
deadline = time.monotonic() + 20
while not go.exists() and time.monotonic() < deadline:  # start together
    time.sleep(0.001)
inst = Path(sys.argv[2]) / "inst"
print(config.load_secret(inst, "SECRET_KEY"), config.load_secret(inst, "JWT_SECRET_KEY"))
"""


@pytest.mark.parametrize("round_", range(3))
def test_processes_starting_together_agree_on_one_secret(tmp_path, round_):
    root = str(Path(__file__).resolve().parents[2])
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, root, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(12)]
    (tmp_path / "go").touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(out.strip())
    assert len(set(results)) == 1
    assert not [f for f in os.listdir(tmp_path / "inst") if f.endswith(".tmp")]
