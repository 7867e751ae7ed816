"""Tests of the quickstart app, written with `flask_socketio_jwt.testing`."""

from datetime import timedelta

import pytest
from quickstart import create_app

from flask_socketio_jwt import access_token, get_state, socket_client


@pytest.fixture
def app(tmp_path):
    app = create_app({
        "TESTING": True,
        "ASYNC_MODE": "threading",  # Flask-SocketIO's test client, no green runtime
        "SOCKETIO_JWT_AUDIT_SPILL_FILE": str(tmp_path / "audit-spill.jsonl"),
    })
    yield app
    get_state(app).hub.close()  # stop the extension's background work
    get_state(app).audit.close()


def test_whoami(app):
    client = socket_client(app, access_token(app, "1"))
    assert client.is_connected()
    session = client.get_received()[0]
    assert session["name"] == "session"
    ack = client.emit("whoami", callback=True)
    assert ack == {"ok": True, "id": "1", "name": "ann",
                   "exp": session["args"][0]["expires_at"]}


def test_class_based_namespace(app):
    client = socket_client(app, access_token(app, "2"), namespace="/chat")
    ack = client.emit("whoami", {}, callback=True, namespace="/chat")
    assert ack["user_id"] == "2"
    ack = client.emit("shout", {}, callback=True, namespace="/chat")  # no on_shout
    assert ack["error"]["code"] == "invalid_payload"


def test_refused(app):
    assert socket_client(app, "garbage").refusal_code == "token_invalid"
    assert socket_client(app, access_token(app, "99")).refusal_code == "user_unknown"
    assert socket_client(app, None).refusal == {
        "code": "auth_required", "message": "An access token is required."}


def test_logout_kicks_the_socket(app):
    token = access_token(app, "1")
    client = socket_client(app, token)
    response = app.test_client().post(
        "/logout", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert not client.is_connected()
    assert client.kick() == {"event": "auth_revoked", "code": "token_revoked"}
    # The blocklist refuses the token from now on.
    assert socket_client(app, token).refusal_code == "token_revoked"


def test_expired_token_is_refused(app):
    token = access_token(app, "1", expires_delta=timedelta(seconds=-1))
    assert socket_client(app, token).refusal_code == "token_expired"


def test_admin_view(app):
    import admin_view  # noqa: F401  (mounts /admin)

    user = socket_client(app, access_token(app, "2"))
    refused = socket_client(app, access_token(app, "2"), namespace="/admin")
    assert refused.refusal_code == "forbidden"
    admin = socket_client(app, access_token(app, "1"), namespace="/admin")
    view = admin.emit("sockets", {}, callback=True, namespace="/admin")
    assert view["online"] == {"1": 1, "2": 1}
    # Each `session` event names its socket's sid.
    sids = {c.get_received(ns)[0]["args"][0]["sid"] for c, ns in ((user, "/"), (admin, "/admin"))}
    assert {s["sid"] for s in view["here"]} == sids
