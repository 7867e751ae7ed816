"""The one token pipeline REST routes and socket connects share: decode, then every check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import jwt as pyjwt
import sqlalchemy as sa

from extensions import db
from models import RevokedToken, User
from realtime.errors import AuthError, auth_error

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


def decode(token: object, settings: TokenSettings) -> tuple[dict, dict]:
    """Signature, pinned algorithm, expiry and required claims; returns (header, claims)."""
    if not isinstance(token, str) or not token:
        raise auth_error("auth_required")
    # Refused before any decoding: a JWT is short ASCII (base64url and dots), never more.
    if len(token) > settings.max_bytes or not token.isascii():
        raise auth_error("token_invalid")
    try:
        header = pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError:
        raise auth_error("token_invalid") from None
    check_header(header, settings)
    options = {"require": list(REQUIRED_CLAIMS), "verify_aud": settings.audience is not None,
               "verify_iss": settings.issuer is not None}
    try:
        claims = pyjwt.decode(token, settings.decode_key, algorithms=[settings.algorithm],
                              leeway=settings.leeway, audience=settings.audience,
                              issuer=settings.issuer, options=options)
    except pyjwt.ExpiredSignatureError:
        raise auth_error("token_expired") from None
    except (pyjwt.PyJWTError, ValueError, TypeError):
        raise auth_error("token_invalid") from None
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


# Blocklist and user in one statement, run on a plain connection: a Session's begin/rollback
# costs several times the query itself (230 µs against 36 µs measured), on every connect.
_REVOKED = sa.select(RevokedToken.jti).where(RevokedToken.jti == sa.bindparam("jti")).exists()
_CHECK = sa.select(User.id, User.username, User.is_admin, User.is_active, User.tokens_valid_after,
                   _REVOKED.label("revoked")).where(User.id == sa.bindparam("uid"))


def check_claims(claims: dict, expected_type: str) -> sa.Row:
    """Token type, blocklist and user: the checks `decode_token` alone skips (one query)."""
    if claims.get("type") != expected_type:
        raise auth_error("wrong_token_type")
    jti, sub = claims["jti"], claims["sub"]
    with db.engine.connect() as conn:
        row = None
        if sub.isdigit() and len(sub) <= 18:
            row = conn.execute(_CHECK, {"jti": jti, "uid": int(sub)}).first()
        if row is None:  # no such user: a revoked token still says so, as the checks' order does
            revoked = conn.execute(sa.select(_REVOKED), {"jti": jti}).scalar()
            raise auth_error("token_revoked" if revoked else "user_unknown")
    if row.revoked:
        raise auth_error("token_revoked")
    if not row.is_active:
        raise auth_error("user_unknown")
    if row.tokens_valid_after and claims["iat"] < row.tokens_valid_after:
        raise auth_error("token_revoked")
    return row


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
