"""GET /api/audit: the audit log for admins, newest first, keyset-paged."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, g, jsonify, request

from blueprints.common import token_required
from extensions import db
from flask_socketio_jwt import AUDIT_KINDS as KINDS
from flask_socketio_jwt import Forbidden, InvalidPayload
from models import AuditEvent

bp = Blueprint("audit", __name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
PARAMS = frozenset({"kind", "user_id", "before_id", "limit"})
MAX_ID = 2**63 - 1


def _int_arg(name: str, lo: int) -> int | None:
    """A decimal query argument >= lo, or None when absent; InvalidPayload otherwise."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not lo <= int(raw) <= MAX_ID:
        raise InvalidPayload(f"`{name}` must be an integer of at least {lo}.")
    return int(raw)


@bp.get("")
@token_required("access")
def list_events():
    """Audit rows, newest first; filters `kind`, `user_id`; pages with `before_id`; `limit` <= 500."""
    if not g.identity.is_admin:
        raise Forbidden("Admins only.")
    unknown = set(request.args) - PARAMS
    if unknown:
        raise InvalidPayload(f"Unknown query parameter(s): {', '.join(sorted(unknown))[:200]}.")
    if any(len(request.args.getlist(name)) > 1 for name in request.args):
        raise InvalidPayload("Give each query parameter once.")
    q = sa.select(AuditEvent)
    kind = request.args.get("kind")
    if kind is not None:
        if kind not in KINDS:
            raise InvalidPayload(f"`kind` must be one of: {', '.join(sorted(KINDS))}.")
        q = q.where(AuditEvent.kind == kind)
    user_id = _int_arg("user_id", 0)
    if user_id is not None:
        q = q.where(AuditEvent.user_id == user_id)
    before = _int_arg("before_id", 0)
    if before is not None:
        q = q.where(AuditEvent.id < before)
    limit = min(_int_arg("limit", 1) or DEFAULT_LIMIT, MAX_LIMIT)
    rows = db.session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit + 1)).all()
    events = [r.to_wire() for r in rows[:limit]]
    db.session.rollback()  # end the read transaction (SQLite readers must not pin the WAL)
    more = len(rows) > limit
    return jsonify({"events": events, "next_before_id": events[-1]["id"] if more else None})
