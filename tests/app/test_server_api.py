"""The server API in process: key handling, rate limits, an admin's token, bodies the schemas refuse."""

from __future__ import annotations

import hashlib

import pytest

from flask_socketio_jwt import get_state
from realtime import serverapi
from tests.app.conftest import built_app

KEY = "unit-key-" + "q" * 40


@pytest.fixture
def app(tmp_path):
    with built_app(tmp_path, SERVER_API_KEYS={"unit": KEY}, SERVER_API_RATE_LIMIT=[1, 3]) as application:
        yield application


def bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def test_keys_parse_as_digests_and_refuse_weak_ones() -> None:
    digest = hashlib.sha256(b"x" * 40).hexdigest()
    keys = serverapi.parse_keys({"a": "x" * 40, "b": "sha256:" + digest})
    assert keys == {"a": bytes.fromhex(digest), "b": bytes.fromhex(digest)}
    assert set(serverapi.parse_keys(["y" * 32, "z" * 32])) == {"key0", "key1"}
    for bad in ({"a": "short"}, {"a": "sha256:abc"}, {"": "x" * 40}, [123]):
        with pytest.raises(RuntimeError):
            serverapi.parse_keys(bad)


def test_a_weak_key_stops_the_app(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="at least 32"), built_app(tmp_path, SERVER_API_KEYS={"a": "short"}):
        pass


def test_no_keys_configured_accepts_only_an_admin(client, tokens) -> None:
    # The default SERVER_API_KEYS is empty: nothing passes for a key.
    r = client.get("/api/server/users/online", headers=bearer("k" * 40))
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "token_invalid"
    admin = tokens.user(admin=True)
    assert client.get("/api/server/users/online", headers=bearer(admin["access"])).status_code == 200


def test_rate_limit_per_caller_with_one_audit_row(app) -> None:
    client = app.test_client()
    codes = [client.get("/api/server/users/online", headers=bearer(KEY)).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    body = client.get("/api/server/users/online", headers=bearer(KEY)).get_json()
    assert body["error"]["code"] == "rate_limited" and body["error"]["retry_after"] > 0
    get_state(app).audit.flush()
    from extensions import db
    from models import AuditEvent

    with app.app_context():
        rows = db.session.query(AuditEvent).filter_by(kind="rate_limited").all()
        assert [r.detail for r in rows] == [{"caller": "key:unit", "scope": "server_api"}]


def unlimited(app) -> None:
    """Lift the per-caller limit (buckets are made on first use)."""
    app.extensions["server_api"].rate = (10**6, 10**6)


def test_bodies_the_schemas_refuse(app) -> None:
    unlimited(app)
    client = app.test_client()
    post = client.post
    h = bearer(KEY)
    cases = [
        post("/api/server/rooms/a/messages", data="{}", headers=h),  # not JSON content type
        post("/api/server/rooms/a/messages", json=["text"], headers=h),
        post("/api/server/rooms/a/messages", json={"text": 5}, headers=h),
        post("/api/server/rooms/a/messages", json={"text": ""}, headers=h),
        post("/api/server/users/1/events", json={"event": "bad name"}, headers=h),
        post("/api/server/users/1/events", data='{"event": "x", "data": NaN}', content_type="application/json",
             headers=h),
        post("/api/server/users/1/disconnect", json={"revoke": "yes"}, headers=h),
        client.get("/api/server/rooms/a/messages?since_id=-1", headers=h),
        client.get("/api/server/users/online?limit=0", headers=h),
        client.get("/api/server/users/online?x=1", headers=h),
    ]
    for r in cases:
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_payload", r.get_json()


def test_the_server_sender_cannot_log_in_or_be_targeted(app) -> None:
    unlimited(app)
    client = app.test_client()
    assert client.post("/api/server/rooms/a/messages", json={"text": "hi"}, headers=bearer(KEY)).status_code == 201
    from extensions import db
    from models import User

    with app.app_context():
        sender = db.session.query(User).filter_by(username="@server").one()
        assert sender.is_active is False
        sender_id = sender.id
    r = client.post(f"/api/server/users/{sender_id}/events", json={"event": "x"}, headers=bearer(KEY))
    assert r.status_code == 404
    r = client.post("/api/auth/login", json={"username": "@server", "password": "whatever-123"})
    assert r.status_code == 400


def documented_audit_fields() -> dict[str, set[str]]:
    """kind -> the detail fields docs/server-api.md lists for it (backticked names; values in parentheses left out)."""
    import re

    from tests.app.conftest import ROOT

    table = (ROOT / "docs" / "server-api.md").read_text().split("## Audit rows", 1)[1]
    fields = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`server_"):
            detail = re.sub(r"\([^)]*\)", "", cells[3])
            fields[cells[0].strip("`")] = set(re.findall(r"`([a-z_]+)`", detail))
    return fields


def test_every_server_api_audit_row_has_the_fields_its_doc_lists(app, tokens, socket_client) -> None:
    from flask_socketio_jwt import get_state

    unlimited(app)
    client, h = app.test_client(), bearer(KEY)
    user = tokens.user()
    socket_client(user["access"])
    assert client.post("/api/server/rooms/a/messages", json={"text": "hi"}, headers=h).status_code == 201
    assert client.post(f"/api/server/users/{user['id']}/events", json={"event": "x"}, headers=h).status_code == 200
    assert client.get("/api/server/rooms/a/presence", headers=h).status_code == 200
    assert client.get("/api/server/rooms/a/messages", headers=h).status_code == 200
    assert client.get("/api/server/users/online", headers=h).status_code == 200
    assert client.post(f"/api/server/users/{user['id']}/disconnect", json={"revoke": False},
                       headers=h).status_code == 200
    assert client.get("/api/server/users/online", headers=bearer("wrong-" + KEY)).status_code == 401
    get_state(app).audit.flush()
    from extensions import db
    from models import AuditEvent

    with app.app_context():
        rows = [(r.kind, r.detail) for r in db.session.query(AuditEvent).filter(AuditEvent.kind.like("server_%"))]
    documented = documented_audit_fields()
    assert {kind for kind, _ in rows} == set(documented)
    for kind, detail in rows:
        room_read = kind == "server_read" and detail.get("op") in ("presence", "history")
        expected = documented[kind] - ({"room"} if kind == "server_read" and not room_read else set())
        assert expected <= set(detail), (kind, detail, expected)
