"""GET /api/audit: the audit log for admins, newest first, keyset-paged."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, g, jsonify, request

from blueprints.common import token_required
from extensions import db
from models import AuditEvent
from realtime.audit import KINDS
from realtime.errors import Forbidden, InvalidPayload

bp = Blueprint("audit", __name__)

MAX_LIMIT = 500


def _int_arg(name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidPayload(f"`{name}` must be a non-negative integer.")
    return max(lo, min(int(raw), hi))


@bp.get("")
@token_required("access")
def list_events():
    if not g.identity.is_admin:
        raise Forbidden("Admins only.")
    q = sa.select(AuditEvent)
    kind = request.args.get("kind")
    if kind:
        if kind not in KINDS:
            raise InvalidPayload(f"`kind` must be one of: {', '.join(sorted(KINDS))}.")
        q = q.where(AuditEvent.kind == kind)
    user_id = _int_arg("user_id", None, 0, 2**62)
    if user_id is not None:
        q = q.where(AuditEvent.user_id == user_id)
    before = _int_arg("before_id", None, 0, 2**62)
    if before is not None:
        q = q.where(AuditEvent.id < before)
    limit = _int_arg("limit", 100, 1, MAX_LIMIT)
    rows = db.session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit)).all()
    next_before = rows[-1].id if len(rows) == limit else None
    return jsonify({"events": [r.to_wire() for r in rows], "next_before_id": next_before})
