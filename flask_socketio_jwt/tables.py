"""The one table the extension writes, declared on the host's own metadata (so Alembic sees it)."""

from __future__ import annotations

import sqlalchemy as sa

AUDIT_TABLE_NAME = "socketio_jwt_audit"


def audit_table(metadata: sa.MetaData, name: str = AUDIT_TABLE_NAME) -> sa.Table:
    """Declare the audit table on metadata (e.g. `db.metadata`); pass it to SocketJWT as `audit_table`."""
    return sa.Table(
        name, metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        # No foreign key: the audit trail outlives deleted users. Identities that are not
        # integers are kept in detail["identity"].
        sa.Column("user_id", sa.BigInteger),
        sa.Column("sid", sa.String(64)),
        sa.Column("remote_addr", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
        # Chosen by the writer, so replaying a spill file can never insert a row twice.
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Index(f"ix_{name}_kind_id", "kind", "id"),
        sa.Index(f"ix_{name}_user_id", "user_id", "id"),
        sa.Index(f"ix_{name}_ts", "ts"),
    )
