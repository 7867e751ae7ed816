"""SQLAlchemy 2.0 typed models: users, the revoked-token blocklist, messages, audit events."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(32), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # "Log out everywhere": every token issued at or before this instant (Unix ms) counts as revoked.
    tokens_valid_after: Mapped[int | None] = mapped_column(sa.BigInteger)
    # Usernames are unique regardless of case: `Admin` cannot register beside `admin`.
    __table_args__ = (sa.Index("uq_users_username_lower", sa.func.lower(username), unique=True),)

    def to_public(self) -> dict:
        """The user as the contract shows it: {"id", "username"}."""
        return {"id": str(self.id), "username": self.username}


class RevokedToken(db.Model):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    revoked_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # Kept so `flask prune` can drop rows once the token could no longer be used anyway.
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (sa.Index("ix_messages_room_id", "room", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    def to_wire(self) -> dict:
        """The message as the `message` event carries it."""
        ts = self.created_at
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return {"id": self.id, "room": self.room, "user": self.username,
                "text": self.text, "ts": ts.timestamp()}


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_kind_id", "kind", "id"),
        sa.Index("ix_audit_user_id", "user_id", "id"),
        sa.Index("ix_audit_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(32))
    # No foreign key: the audit trail outlives deleted users.
    user_id: Mapped[int | None] = mapped_column()
    sid: Mapped[str | None] = mapped_column(sa.String(64))
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # A per-row id chosen by the writer, so replaying a spill file can never insert a row twice.
    uid: Mapped[str] = mapped_column(sa.String(32), unique=True)

    def to_wire(self) -> dict:
        """The row as GET /api/audit returns it."""
        ts = self.ts if self.ts.tzinfo else self.ts.replace(tzinfo=UTC)
        return {"id": self.id, "ts": ts.isoformat(), "kind": self.kind,
                "user_id": None if self.user_id is None else str(self.user_id),
                "sid": self.sid, "remote_addr": self.remote_addr, "detail": self.detail or {}}
