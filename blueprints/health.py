"""GET /healthz: the database and the audit writer."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify

from extensions import db
from flask_socketio_jwt import get_state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The database, the audit writer and the live sockets; 503 when the database is down."""
    body: dict = {"status": "ok"}
    try:
        db.session.execute(sa.text("SELECT 1"))
        body["database"] = "ok"
    except Exception as exc:
        db.session.rollback()
        body["database"] = f"down: {type(exc).__name__}"
        body["status"] = "degraded"
    state = get_state()
    body["audit_writer"] = state.audit.health()
    if body["audit_writer"]["state"] == "error" and body["status"] == "ok":
        body["status"] = "degraded"  # still 200: rows are kept and retried, nothing is lost
    body["sockets"] = len(state.registry.local)
    return jsonify(body), (200 if body["database"] == "ok" else 503)
