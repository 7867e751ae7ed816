"""Config layering, persisted secrets, start-up validation, the CLI and the locked-database retry."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading

import pytest
from flask_jwt_extended import decode_token

from app import create_app
from extensions import db
from models import User


def test_env_overrides_defaults_and_mapping_overrides_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_JWT_ACCESS_TOKEN_EXPIRES", "5")
    monkeypatch.setenv("FLASK_SOCKETIO_JWT_RATE_LIMIT", "[1, 2]")
    monkeypatch.setenv("FLASK_CORS_ALLOWED_ORIGINS", '["https://a.example"]')
    monkeypatch.setenv("FLASK_SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER", "3")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite",
                      "SOCKETIO_JWT_ASYNC_MODE": "threading",
                      "SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": 4})
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == 5
    assert app.config["SOCKETIO_JWT_RATE_LIMIT"] == [1, 2]
    assert app.config["CORS_ALLOWED_ORIGINS"] == ["https://a.example"]
    assert app.config["SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER"] == 4
    assert app.config["AUDIT_RETENTION_DAYS"] == 90 and app.config["SOCKETIO_JWT_CONNECT_TIMEOUT"] == 10


def _app(instance, db_path, **extra):
    from flask import Flask

    real_init = Flask.__init__

    def init(self, *a, **k):
        k["instance_path"] = str(instance)
        real_init(self, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Flask, "__init__", init)
        return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "SOCKETIO_JWT_ASYNC_MODE": "threading",
                           **extra})


def test_secrets_are_generated_kept_0600_and_survive_a_restart(tmp_path):
    instance = tmp_path / "instance"
    first = _app(instance, tmp_path / "a.sqlite")
    path = instance / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert len(stored["JWT_SECRET_KEY"]) >= 32 and stored["SECRET_KEY"] != stored["JWT_SECRET_KEY"]
    with first.app_context():
        from flask_jwt_extended import create_access_token

        token = create_access_token(identity="1")
    second = _app(instance, tmp_path / "a.sqlite")
    assert second.config["JWT_SECRET_KEY"] == first.config["JWT_SECRET_KEY"]
    with second.app_context():
        assert decode_token(token)["sub"] == "1"


@pytest.mark.parametrize(("override", "message"), [
    ({"JWT_SECRET_KEY": "short"}, "at least 32 bytes"),
    ({"JWT_ALGORITHM": "none"}, "not supported"),
    ({"JWT_DECODE_LEEWAY": 31}, "between 0 and 30"),
    ({"SOCKETIO_JWT_RATE_LIMIT": [0, 5]}, "pair of positive numbers"),
    ({"SOCKETIO_JWT_ASYNC_MODE": "asyncio"}, "eventlet, gevent or threading"),
])
def test_unsafe_settings_refuse_to_start(tmp_path, override, message):
    with pytest.raises(RuntimeError, match=message):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite", "SOCKETIO_JWT_ASYNC_MODE": "threading",
                    **override})


def test_cli_create_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "root_1", "--admin", "--password-stdin"], input="a long password\n")
    assert result.exit_code == 0, result.output
    assert "a long password" not in result.output
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "root_1"))
        assert user.is_admin and user.password_hash != "a long password"
    again = runner.invoke(args=["create-user", "root_1", "--password-stdin"], input="a long password\n")
    assert again.exit_code != 0 and "username_taken" in again.output
    bad = runner.invoke(args=["create-user", "x", "--password-stdin"], input="a long password\n")
    assert bad.exit_code != 0 and "invalid_payload" in bad.output
    prompted = runner.invoke(args=["create-user", "plain_user"], input="another password\nanother password\n")
    assert prompted.exit_code == 0, prompted.output
    with app.app_context():
        assert not db.session.scalar(db.select(User).where(User.username == "plain_user")).is_admin


def test_message_waits_out_a_locked_database(app, fast_events, socket_client, tokens):
    c = socket_client(tokens.user()["access"])
    c.emit("join", {"room": "lobby"}, callback=True)
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    released = threading.Event()

    def release() -> None:
        locker.execute("COMMIT")
        released.set()

    timer = threading.Timer(0.6, release)
    timer.start()
    ack = c.emit("message", {"room": "lobby", "text": "after the lock"}, callback=True)
    timer.join()
    assert released.is_set() and ack["ok"] is True
    assert c.emit("join", {"room": "lobby"}, callback=True)["history"][-1]["text"] == "after the lock"
    locker.close()


def test_a_hand_run_wsgi_module_patches_eventlet_before_anything_is_imported(tmp_path):
    """eventlet's patcher walks every loaded module: patched after Flask it prints tracebacks."""
    import os
    import subprocess
    import sys

    from tests.app.conftest import ROOT

    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'w.sqlite'}",
           "FLASK_SECRET_KEY": "s" * 40, "FLASK_JWT_SECRET_KEY": "k" * 40,
           "FLASK_SOCKETIO_JWT_AUDIT_SPILL_FILE": str(tmp_path / "spill.jsonl")}
    probe = "import wsgi, eventlet.patcher as p; print(p.is_monkey_patched('socket'))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-1] == "True" and "Traceback" not in out.stderr, out.stderr[-3000:]
