"""The one token pipeline REST routes and socket connects share: decode, then every check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import jwt as pyjwt
import sqlalchemy as sa

from extensions import db
from flask_socketio_jwt.core.errors import AuthError, auth_error
from models import RevokedToken, User

REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "type")


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for, and until when."""

    user_id: str
    username: str
    jti: str
    exp: int
    iat: int
    type: str
    is_admin: bool
    claims: dict

    def public(self) -> dict:
        """The user as the contract shows it."""
        return {"id": self.user_id, "username": self.username}


@dataclass(frozen=True)
class TokenSettings:
    """What decoding needs; built once from the app config."""

    algorithm: str
    decode_key: str
    leeway: float = 0
    audience: str | None = None
    issuer: str | None = None
    max_bytes: int = 8192

    @cached_property
    def options(self) -> dict:
        """PyJWT's decode options for these settings."""
        return {"require": list(REQUIRED_CLAIMS), "verify_aud": self.audience is not None,
                "verify_iss": self.issuer is not None}

    @classmethod
    def from_config(cls, cfg: dict) -> TokenSettings:
        """Settings from a Flask config mapping."""
        alg = cfg["JWT_ALGORITHM"]
        key = cfg["JWT_SECRET_KEY"] if alg.startswith("HS") else cfg["JWT_PUBLIC_KEY"]
        return cls(alg, key, float(cfg["JWT_DECODE_LEEWAY"]), cfg.get("JWT_AUDIENCE"),
                   cfg.get("JWT_ISSUER"), int(cfg["JWT_MAX_TOKEN_BYTES"]))


def check_header(header: dict, settings: TokenSettings) -> None:
    """Refuse headers RFC 8725 warns about: another algorithm, or extensions we do not know."""
    if header.get("alg") != settings.algorithm:
        raise auth_error("token_invalid")
    # We understand no critical extension, so any `crit` must be refused (RFC 7515 4.1.11).
    if "crit" in header:
        raise auth_error("token_invalid")


# One codec for every decode: `decode_complete` parses the token once and hands back the header
# too (PyJWT's module functions plus `get_unverified_header` parsed it twice: 85 -> 45 µs).
_CODEC = pyjwt.PyJWT()


def decode(token: object, settings: TokenSettings) -> tuple[dict, dict]:
    """Signature, pinned algorithm, expiry and required claims; returns (header, claims)."""
    if not isinstance(token, str) or not token:
        raise auth_error("auth_required")
    # Refused before any decoding: a JWT is short ASCII (base64url and dots), never more.
    if len(token) > settings.max_bytes or not token.isascii():
        raise auth_error("token_invalid")
    try:
        # `algorithms` pins the header's alg before the signature is checked (no HS/RS confusion).
        full = _CODEC.decode_complete(token, settings.decode_key, algorithms=[settings.algorithm],
                                      leeway=settings.leeway, audience=settings.audience,
                                      issuer=settings.issuer, options=settings.options)
    except pyjwt.ExpiredSignatureError:
        raise auth_error("token_expired") from None
    except (pyjwt.PyJWTError, ValueError, TypeError):
        raise auth_error("token_invalid") from None
    header, claims = full["header"], full["payload"]
    check_header(header, settings)
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
        raise auth_error("token_invalid")
    if not all(isinstance(claims.get(c), (int, float)) for c in ("exp", "iat")):
        raise auth_error("token_invalid")
    return header, claims


def is_revoked(jti: str) -> bool:
    """True when the jti is on the blocklist."""
    return db.session.scalar(sa.select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None


def load_user(sub: str) -> User | None:
    """The active user a subject names, or None."""
    if not sub.isdigit() or len(sub) > 18:
        return None
    user = db.session.get(User, int(sub))
    if user is None or not user.is_active:
        return None
    return user


# Blocklist and user in one statement, compiled once per dialect and run on a pooled DBAPI
# connection: a Session's begin/rollback cost several times the query (230 µs against 36 µs),
# and SQLAlchemy's execution layer most of what was left (39 µs against 13 µs), on every connect.
_REVOKED = sa.select(RevokedToken.jti).where(RevokedToken.jti == sa.bindparam("jti")).exists()
_CHECK = sa.select(User.id, User.username, User.is_admin, User.is_active, User.tokens_valid_after,
                   _REVOKED.label("revoked")).where(User.id == sa.bindparam("uid"))
_REVOKED_ONLY = sa.select(_REVOKED)


class UserCheck(NamedTuple):
    """The user row and the blocklist answer for one token."""

    id: int
    username: str
    is_admin: bool
    is_active: bool
    tokens_valid_after: int | None
    revoked: bool


@lru_cache(maxsize=64)
def _compiled(stmt: sa.Select, dialect: sa.Dialect) -> tuple[str, tuple[str, ...] | None]:
    """SQL text for the dialect, and the parameter order when its paramstyle is positional."""
    c = stmt.compile(dialect=dialect)
    return str(c), (tuple(c.positiontup or ()) if dialect.positional else None)


def _fetch(cursor: Any, stmt: sa.Select, dialect: sa.Dialect, params: dict) -> tuple | None:
    sql, order = _compiled(stmt, dialect)
    cursor.execute(sql, params if order is None else tuple(params[k] for k in order))
    return cursor.fetchone()


def check_claims(claims: dict, expected_type: str) -> UserCheck:
    """Token type, blocklist and user: the checks `decode_token` alone skips (one query)."""
    if claims.get("type") != expected_type:
        raise auth_error("wrong_token_type")
    jti, sub = claims["jti"], claims["sub"]
    engine = db.engine
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        row = None
        if sub.isdigit() and len(sub) <= 18:
            row = _fetch(cursor, _CHECK, engine.dialect, {"jti": jti, "uid": int(sub)})
        if row is None:  # no such user: a revoked token still says so, as the checks' order does
            revoked = _fetch(cursor, _REVOKED_ONLY, engine.dialect, {"jti": jti})
            raise auth_error("token_revoked" if revoked and revoked[0] else "user_unknown")
        cursor.close()
    finally:
        conn.close()  # back to the pool, rolled back
    user = UserCheck(int(row[0]), row[1], bool(row[2]), bool(row[3]), row[4], bool(row[5]))
    if user.revoked:
        raise auth_error("token_revoked")
    if not user.is_active:
        raise auth_error("user_unknown")
    if user.tokens_valid_after and claims["iat"] < user.tokens_valid_after:
        raise auth_error("token_revoked")
    return user


def verify(token: object, settings: TokenSettings, expected_type: str = "access") -> Identity:
    """Every check a protected route or socket connect needs; raises AuthError with the code."""
    _, claims = decode(token, settings)
    user = check_claims(claims, expected_type)
    return Identity(user_id=str(user.id), username=user.username, jti=claims["jti"],
                    exp=int(claims["exp"]), iat=int(claims["iat"]), type=claims["type"],
                    is_admin=bool(user.is_admin), claims=claims)


def revoke(jti: str, user_id: int | None, exp: int) -> None:
    """Put a jti on the blocklist (idempotent); the caller commits."""
    if db.session.get(RevokedToken, jti) is None:
        db.session.add(RevokedToken(jti=jti, user_id=user_id,
                                    expires_at=datetime.fromtimestamp(exp, UTC)))


__all__ = ["AuthError", "Identity", "TokenSettings", "decode", "verify", "check_claims",
           "check_header", "is_revoked", "load_user", "revoke"]
