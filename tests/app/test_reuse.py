"""The auth blueprint and the namespace mounted in another Flask app through their init_app."""

from __future__ import annotations

from flask import Flask
from flask_socketio import SocketIO

import sockets
from blueprints import auth
from blueprints.common import register_error_handlers
from extensions import db, jwt
from flask_socketio_jwt import get_state


def test_second_app_mounts_auth_and_namespace(tmp_path):
    other = Flask("someone_elses_app", instance_path=str(tmp_path))
    other.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'other.sqlite'}",
        JWT_SECRET_KEY="another-app-secret-" + "k" * 40,
        SOCKETIO_JWT_ASYNC_MODE="threading",
        PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
    )
    db.init_app(other)
    jwt.init_app(other)
    own_socketio = SocketIO()
    sockets.init_app(other, own_socketio)
    auth.init_app(other, url_prefix="/auth")
    register_error_handlers(other)
    with other.app_context():
        db.create_all()
    http = other.test_client()
    assert http.post("/auth/register", json={"username": "zoe", "password": "long enough"}).status_code == 201
    token = http.post("/auth/login", json={"username": "zoe", "password": "long enough"}).get_json()["access_token"]
    assert http.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).get_json()["username"] == "zoe"

    sock = own_socketio.test_client(other, auth={"token": token})
    assert sock.is_connected()
    assert sock.emit("whoami", callback=True)["user"]["username"] == "zoe"
    assert not own_socketio.test_client(other, auth={"token": "nope"}).is_connected()
    sock.disconnect()
    state = get_state(other)
    state.audit.close()
    state.hub.close()
    with other.app_context():
        db.engine.dispose()
