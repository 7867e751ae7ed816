"""GET /metrics: Prometheus text, per-app registries, counts that match what happened, safe labels."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from extensions import db
from flask_socketio_jwt import get_state
from tests.app.conftest import SECRET


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_sockets_events_and_audit_rows(app, client, tokens, socket_client):
    u = tokens.user()
    token_like = u["access"]
    a = socket_client(u["access"])
    b = socket_client(u["access"])
    socket_client("garbage")
    socket_client(None, auth=None)
    assert a.emit("whoami", callback=True)["ok"]
    assert a.emit("join", {"room": "lobby"}, callback=True)["ok"]
    assert a.emit("message", {"room": "lobby", "text": "hello there"}, callback=True)["ok"]
    assert not a.emit(token_like, {"x": 1}, callback=True)["ok"]  # an unknown event, named like a token
    s = scrape(client)
    assert value(s, "realtime_sockets_live") == 2
    assert value(s, "realtime_socket_connects_total") == 2
    assert value(s, "realtime_socket_refusals_total", code="token_invalid") == 1
    assert value(s, "realtime_socket_refusals_total", code="auth_required") == 1
    for event in ("whoami", "join", "message", "unknown"):
        assert value(s, "realtime_socket_events_total", event=event) == 1, event
    b.disconnect()
    assert get_state(app).audit.flush()
    s = scrape(client)
    assert value(s, "realtime_sockets_live") == 1
    assert value(s, "realtime_socket_disconnects_total") == 1
    kinds = {"login": 1, "connect": 2, "connect_refused": 2, "join": 1, "message": 1, "disconnect": 1}
    for kind, n in kinds.items():
        assert value(s, "realtime_audit_rows_enqueued_total", kind=kind) == n, kind
    assert value(s, "realtime_audit_rows_written_total") == sum(kinds.values())
    assert value(s, "realtime_audit_queue_depth") == 0
    assert value(s, "realtime_audit_rows_spilled_total") == 0
    assert value(s, "realtime_audit_rows_failed_total") == 0
    assert value(s, "realtime_audit_writer_ok") == 1
    assert value(s, "realtime_audit_writer_lag_seconds") == 0
    body = client.get("/metrics").get_data(as_text=True)
    assert token_like not in body and "hello there" not in body and u["username"] not in body


def test_each_app_has_its_own_registry(app, client, tokens, socket_client, tmp_path: Path):
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'other.sqlite'}",
                        "SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": SECRET, "SOCKETIO_JWT_ASYNC_MODE": "threading",
                        "SOCKETIO_JWT_AUDIT_SPILL_FILE": str(tmp_path / "other-spill.jsonl")})
    try:
        with other.app_context():
            db.create_all()
        socket_client(tokens.user()["access"])
        assert value(scrape(client), "realtime_socket_connects_total") == 1
        assert value(scrape(other.test_client()), "realtime_socket_connects_total") == 0
        assert other.extensions["metrics"].registry is not app.extensions["metrics"].registry
    finally:
        get_state(other).audit.close()
        get_state(other).hub.close()
        with other.app_context():
            db.engine.dispose()


def test_writer_trouble_shows_in_metrics_and_healthz(app, client):
    audit = get_state(app).audit
    audit._note_error(OSError("disk"))
    audit.stats["spilled"] += 3
    s = scrape(client)
    assert value(s, "realtime_audit_writer_ok") == 0
    assert value(s, "realtime_audit_rows_spilled_total") == 3
    assert value(s, "realtime_audit_write_errors_total") == 1
    body = client.get("/healthz").get_json()
    assert body["status"] == "degraded" and body["audit_writer"]["state"] == "error"
    assert body["audit_writer"]["last_error"] == "OSError"
    audit.enqueue("login", user_id=1)
    assert audit.flush()
    assert client.get("/healthz").get_json()["status"] == "ok"
