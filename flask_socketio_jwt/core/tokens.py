"""Token checks on the host's own JWTManager: what `@jwt_required()` accepts, a socket accepts.

`verify` runs flask-jwt-extended's pipeline in the order its `verify_jwt_in_request` does:
`decode_token` (the host's algorithms, keys or key loader, leeway, audience, issuer, identity
claim), then the token type (access only here), the host's `token_in_blocklist_loader`, its
`token_verification_loader`, and its `user_lookup_loader` (a `None` user is `user_unknown`).
Each failure becomes the contract code. Needs an app context, no request.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
from flask_jwt_extended import decode_token, get_unverified_jwt_headers
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.exceptions import (
    JWTExtendedException,
    RevokedTokenError,
    UserClaimsVerificationError,
    WrongTokenError,
)
from flask_jwt_extended.internal_utils import (
    custom_verification_for_token,
    has_user_lookup,
    user_lookup,
    verify_token_not_blocklisted,
    verify_token_type,
)

from flask_socketio_jwt.core.errors import auth_error

Decoder = Callable[[str], tuple[dict[str, Any], dict[str, Any]]]

# Claims flask-jwt-extended fills in when a token lacks them (type, jti): only the raw payload
# tells whether the token carried them.
_DEFAULTED = frozenset({"type", "jti", "fresh"})


@dataclass(frozen=True, slots=True)
class Verified:
    """A token that passed every check: its header, its claims and the host's user object."""

    header: dict[str, Any]
    claims: dict[str, Any]
    user: Any
    identity: str
    jti: str
    exp: int


def identity_claim() -> str:
    """The host's identity claim (`JWT_IDENTITY_CLAIM`, `sub` by default)."""
    return str(jwt_config.identity_claim_key)


def leeway() -> float:
    """The host's `JWT_DECODE_LEEWAY` in seconds (a timedelta or a number)."""
    value = jwt_config.leeway
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value or 0)


def raw_claims(token: str) -> dict[str, Any]:
    """The payload segment as sent (only after the signature was checked)."""
    try:
        segment = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise auth_error("token_invalid") from None
    if not isinstance(data, dict):
        raise auth_error("token_invalid")
    return data


_HEADERS: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}


def shared_header(header: dict[str, Any]) -> dict[str, Any]:
    """One dict per distinct header: every socket keeps its token's header, and nearly all are alike."""
    try:
        key = tuple(sorted(header.items()))
        return _HEADERS.setdefault(key, header) if len(_HEADERS) < 256 or key in _HEADERS else header
    except TypeError:  # a header value that is not hashable: keep the socket's own copy
        return header


def compact_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims with their names (and the token type) interned: a socket keeps its token's claims
    for `get_jwt()`, and a JSON decode gives every token its own copy of each name."""
    kept = {sys.intern(k) if type(k) is str else k: v for k, v in claims.items()}
    kind = kept.get("type")
    if type(kind) is str:
        kept["type"] = sys.intern(kind)
    return kept


def stock_decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) through flask-jwt-extended's public `decode_token`, as `@jwt_required` gets them."""
    return get_unverified_jwt_headers(token), decode_token(token)


def decode(token: object, *, max_bytes: int = 8192, required: tuple[str, ...] = ("exp", "jti"),
           decoder: Decoder | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Signature, expiry, audience, issuer and identity claim as the host decodes them; (header, claims)."""
    if not isinstance(token, str) or not token:
        raise auth_error("auth_required")
    # Refused before any decoding: a JWT is short ASCII (base64url and dots), never more.
    if len(token) > max_bytes or not token.isascii():
        raise auth_error("token_invalid")
    try:
        header, claims = (decoder or stock_decode)(token)
    except pyjwt.ExpiredSignatureError:
        raise auth_error("token_expired") from None
    except (pyjwt.PyJWTError, JWTExtendedException, ValueError, TypeError, KeyError):
        raise auth_error("token_invalid") from None
    sent = raw_claims(token) if _DEFAULTED.intersection(required) else claims
    if any(name not in sent for name in required):
        raise auth_error("token_invalid")
    if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("exp"), (int, float)):
        raise auth_error("token_invalid")
    return header, claims


def refusal(header: dict[str, Any], claims: dict[str, Any]) -> str | None:
    """Why an admitted token no longer passes the host's blocklist, verification or user loader (None: it does)."""
    try:
        verify_token_not_blocklisted(header, claims)
        custom_verification_for_token(header, claims)
    except RevokedTokenError:
        return "token_revoked"
    except UserClaimsVerificationError:
        return "token_invalid"
    if has_user_lookup() and user_lookup(header, claims) is None:
        return "user_unknown"
    return None


def verify(token: object, *, max_bytes: int = 8192, required: tuple[str, ...] = ("exp", "jti"),
           token_type: str = "access", decoder: Decoder | None = None) -> Verified:
    """Every check the host's `@jwt_required()` runs (sockets: access tokens); raises AuthError with the code."""
    header, claims = decode(token, max_bytes=max_bytes, required=required, decoder=decoder)
    try:
        verify_token_type(claims, refresh=token_type == "refresh")
        verify_token_not_blocklisted(header, claims)
        custom_verification_for_token(header, claims)
    except WrongTokenError:
        raise auth_error("wrong_token_type") from None
    except RevokedTokenError:
        raise auth_error("token_revoked") from None
    except UserClaimsVerificationError:
        raise auth_error("token_invalid") from None
    if claims.get("type", "access") != token_type:  # any other type the host mints
        raise auth_error("wrong_token_type")
    user = None
    if has_user_lookup():
        user = user_lookup(header, claims)
        if user is None:
            raise auth_error("user_unknown")
    return Verified(header=shared_header(header), claims=compact_claims(claims), user=user,
                    identity=str(claims[identity_claim()]), jti=claims["jti"], exp=int(claims["exp"]))
