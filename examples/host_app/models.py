"""The example host's own models: accounts with integer ids, its own blocklist, the socket audit table."""

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from flask_socketio_jwt import audit_table


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    banned: Mapped[bool] = mapped_column(default=False)


class BlockedToken(db.Model):
    __tablename__ = "blocked_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


# flask_socketio_jwt's audit rows, declared on this app's metadata: db.create_all() and
# `flask db migrate` (Alembic autogenerate) see it like any other table of the app.
socket_audit = audit_table(db.metadata)
