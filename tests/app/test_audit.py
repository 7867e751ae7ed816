"""The audit trail end to end in one process: the rows a scenario leaves, GET /api/audit, prune."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from extensions import db
from flask_socketio_jwt import AUDIT_KINDS as KINDS
from flask_socketio_jwt import get_state
from models import AuditEvent, RevokedToken
from tests.app.conftest import PASSWORD


def bearer(token: str) -> dict:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def rows(app) -> list[dict]:
    """Every audit row, oldest first, after the writer has flushed."""
    assert get_state(app).audit.flush(timeout=10)
    with app.app_context():
        return [r.to_wire() for r in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]


def shape(row: dict) -> tuple:
    """A row without its id, time and connection length, for comparison."""
    detail = {k: v for k, v in row["detail"].items() if k != "seconds"}
    return row["kind"], row["user_id"], row["sid"], json.dumps(detail, sort_keys=True)


def ack(client, event: str, data=None) -> dict:
    """Emit with an ack through the Flask-SocketIO test client."""
    return client.emit(event, data, callback=True) if data is not None else client.emit(event, callback=True)


def test_scenario_leaves_exactly_the_expected_rows(app, client, tokens, socket_client):
    alice = tokens.user("alice")
    uid = alice["id"]
    assert client.post("/api/auth/login", json={"username": "alice", "password": "wrong-pass"}).status_code == 401
    assert client.post("/api/auth/login", json={"username": "nobody", "password": "wrong-pass"}).status_code == 401

    sock = socket_client(alice["access"])
    sid = sock.get_received()[0]["args"][0]["sid"]
    refused = socket_client("not.a.token")
    assert not refused.is_connected()
    assert ack(sock, "join", {"room": "lobby"})["ok"]
    sent = ack(sock, "message", {"room": "lobby", "text": "the secret plan"})
    assert sent["ok"]
    fresh = tokens.mint(uid)
    assert ack(sock, "refresh", {"token": fresh})["ok"]
    r = client.post("/api/auth/logout", headers=bearer(fresh), json={})
    assert r.status_code == 200
    assert not sock.is_connected()  # logout kicked the socket that used the token
    other = socket_client(alice["access"])
    sid2 = other.get_received()[0]["args"][0]["sid"]
    other.disconnect()

    got = rows(app)
    refused_row = [x for x in got if x["kind"] == "connect_refused"]
    assert len(refused_row) == 1 and refused_row[0]["sid"]
    kick_reason = next(x for x in got if x["kind"] == "disconnect" and x["sid"] == sid)["detail"]["reason"]
    expected = [
        ("login", uid, None, {}),
        ("login_failed", uid, None, {"reason": "invalid_credentials"}),
        ("login_failed", None, None, {"reason": "invalid_credentials"}),
        ("connect", uid, sid, {}),
        ("connect_refused", None, refused_row[0]["sid"], {"code": "token_invalid"}),
        ("join", uid, sid, {"room": "lobby"}),
        ("message", uid, sid, {"room": "lobby", "message_id": sent["id"]}),
        ("refresh", uid, sid, {}),
        ("kick", uid, sid, {"code": "token_revoked"}),
        ("disconnect", uid, sid, {"reason": kick_reason}),
        ("logout", uid, None, {"everywhere": False, "revoked": 1}),
        ("connect", uid, sid2, {}),
        ("disconnect", uid, sid2, {"reason": "client disconnect"}),
    ]
    assert [shape(x) for x in got] == [(k, u, s, json.dumps(d, sort_keys=True)) for k, u, s, d in expected]
    for row in got:
        assert row["kind"] in KINDS
        datetime.fromisoformat(row["ts"])
        if row["kind"] == "disconnect":
            assert 0 <= row["detail"]["seconds"] < 60
        if row["sid"] is None:  # REST rows carry the client address
            assert row["remote_addr"] == "127.0.0.1"
    text = json.dumps(got)
    for secret in (alice["access"], alice["refresh"], fresh, PASSWORD, "wrong-pass", "the secret plan"):
        assert secret not in text


# -- GET /api/audit -------------------------------------------------------------------------

@pytest.fixture
def filled(app, tokens):
    """An admin, a plain user and 30 extra rows of known kinds (user 7: joins, user 8: leaves)."""
    admin = tokens.user("root", admin=True)
    user = tokens.user("plain")
    audit = get_state(app).audit
    for i in range(15):
        audit.enqueue("join", user_id=7, sid=f"s{i}", room="lobby")
        audit.enqueue("leave", user_id=8, sid=f"s{i}", room="lobby")
    rows(app)
    return admin, user


def get(client, admin: dict, query: str = ""):
    """GET /api/audit with the admin's token."""
    return client.get("/api/audit" + query, headers=bearer(admin["access"]))


def test_audit_api_needs_an_admin(client, filled):
    admin, user = filled
    r = client.get("/api/audit", headers=bearer(user["access"]))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    r = client.get("/api/audit")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "auth_required"
    r = client.get("/api/audit", headers=bearer(admin["refresh"]))
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "wrong_token_type"
    assert get(client, admin).status_code == 200


def test_audit_api_newest_first_with_wire_fields(client, filled):
    admin, _ = filled
    body = get(client, admin).get_json()
    events = body["events"]
    assert len(events) == 32 and body["next_before_id"] is None  # 2 logins + 30
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    assert all(set(e) == {"id", "ts", "kind", "user_id", "sid", "remote_addr", "detail"} for e in events)
    assert events[0] == {**events[0], "kind": "leave", "user_id": "8", "sid": "s14", "detail": {"room": "lobby"}}


def test_audit_api_filters(client, filled):
    admin, user = filled
    joins = get(client, admin, "?kind=join").get_json()["events"]
    assert len(joins) == 15 and {e["kind"] for e in joins} == {"join"}
    eights = get(client, admin, "?user_id=8").get_json()["events"]
    assert len(eights) == 15 and {e["user_id"] for e in eights} == {"8"}
    assert get(client, admin, "?user_id=8&kind=join").get_json()["events"] == []
    mine = get(client, admin, f"?user_id={user['id']}&kind=login").get_json()["events"]
    assert len(mine) == 1 and mine[0]["remote_addr"] == "127.0.0.1"


def test_audit_api_keyset_paging(client, filled):
    admin, _ = filled
    everything = [e["id"] for e in get(client, admin).get_json()["events"]]
    seen, before, pages = [], "", 0
    while True:
        body = get(client, admin, f"?limit=7{before}").get_json()
        seen += [e["id"] for e in body["events"]]
        pages += 1
        assert len(body["events"]) <= 7 and pages <= 10
        if body["next_before_id"] is None:
            break
        assert body["next_before_id"] == body["events"][-1]["id"]
        before = f"&before_id={body['next_before_id']}"
    assert seen == everything and pages == 5  # 32 rows: 7+7+7+7+4
    # A page that ends exactly on the last row says there is no more.
    body = get(client, admin, "?limit=32").get_json()
    assert len(body["events"]) == 32 and body["next_before_id"] is None
    body = get(client, admin, f"?kind=join&before_id={everything[0]}&limit=3").get_json()
    assert len(body["events"]) == 3 and all(e["id"] < everything[0] for e in body["events"])


def test_audit_api_limit_is_capped(app, client, filled):
    admin, _ = filled
    audit = get_state(app).audit
    for i in range(600):
        audit.enqueue("message", user_id=9, sid="x", room="r", message_id=i)
    rows(app)
    body = get(client, admin, "?limit=100000").get_json()
    assert len(body["events"]) == 500 and body["next_before_id"] == body["events"][-1]["id"]
    assert len(get(client, admin).get_json()["events"]) == 100  # the default


BAD_QUERIES = [
    "?kind=nope", "?kind=", "?user_id=abc", "?user_id=-1", "?user_id=1.5", "?user_id=", "?before_id=x",
    "?before_id=%C2%B2", "?limit=0", "?limit=-5", "?limit=ten", "?limit=" + "9" * 30,
    "?user_id=99999999999999999999", "?kinds=join", "?limit=5&limit=6",
]


def test_audit_api_bad_query_is_400(client, filled):
    admin, _ = filled
    for query in BAD_QUERIES:  # one app for all: each user registration costs a password hash
        r = get(client, admin, query)
        assert r.status_code == 400, (query, r.get_json())
        assert r.get_json()["error"]["code"] == "invalid_payload", query


# -- prune --------------------------------------------------------------------------------

def test_prune_drops_old_audit_rows_and_expired_blocklist_rows(app):
    now = datetime.now(UTC)
    with app.app_context():
        db.session.add_all([
            AuditEvent(kind="login", uid="old", ts=now - timedelta(days=91), detail={}),
            AuditEvent(kind="login", uid="edge", ts=now - timedelta(days=89), detail={}),
            AuditEvent(kind="login", uid="new", ts=now, detail={}),
            RevokedToken(jti="gone", expires_at=now - timedelta(seconds=5)),
            RevokedToken(jti="live", expires_at=now + timedelta(hours=1)),
        ])
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "1 expired blocklist rows" in result.output and "1 audit rows" in result.output
    with app.app_context():
        assert sorted(db.session.scalars(sa.select(AuditEvent.uid))) == ["edge", "new"]
        assert list(db.session.scalars(sa.select(RevokedToken.jti))) == ["live"]
    app.config["AUDIT_RETENTION_DAYS"] = 30
    result = app.test_cli_runner().invoke(args=["prune"])
    assert "1 audit rows older than 30 days" in result.output
    with app.app_context():
        assert list(db.session.scalars(sa.select(AuditEvent.uid))) == ["new"]
