"""One PyJWT parse per token instead of three: flask-jwt-extended's `decode_token`, leaner.

`decode_token` (flask-jwt-extended 4.7) parses a token three times before a socket can be
admitted: an unverified decode to hand the claims to the key loader, `get_unverified_header`,
the verified decode; `@jwt_required` adds `get_unverified_jwt_headers`, a fourth. On a connect
that is about 100 µs of the worker's time more than one `decode_complete` (measured here:
415 µs against 119 µs on a loaded machine, a 3.5x ratio), at about 1,200 connects a second a
tenth of the worker. `decode` below runs `_decode_jwt`'s checks with the same settings (the
host's algorithms, key, leeway, audience, issuer, identity claim, `verify_sub`) on one
`decode_complete`. It applies only while the host keeps flask-jwt-extended's default key
loader: a custom `decode_key_loader` needs the unverified claims, so `decode_token` runs then.
"""

from __future__ import annotations

from typing import Any

import jwt as pyjwt
from flask import current_app
from flask_jwt_extended import decode_token, get_unverified_jwt_headers
from flask_jwt_extended.config import config
from flask_jwt_extended.default_callbacks import default_decode_key_callback
from flask_jwt_extended.exceptions import JWTDecodeError

from flask_socketio_jwt.patches import has

# Mirrors flask_jwt_extended.tokens._decode_jwt and JWTManager._decode_jwt_from_config of 4.7.x.
WRITTEN_FOR = {"Flask-JWT-Extended": ("4.7", "4.8"), "PyJWT": ("2.8", "3")}

_CODEC = pyjwt.PyJWT()


def missing(jwt_manager: Any) -> list[str]:
    """The flask-jwt-extended internals the one-parse decode reads."""
    return (has(type(config), "decode_algorithms", "decode_audience", "decode_issuer", "leeway", "identity_claim_key",
                "verify_sub", "decode_key")
            + has(jwt_manager, "_decode_key_callback", "_decode_jwt_from_config"))


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) as `decode_token` and `get_unverified_jwt_headers` give them, from one parse."""
    if current_app.extensions["flask-jwt-extended"]._decode_key_callback is not default_decode_key_callback:
        return get_unverified_jwt_headers(token), decode_token(token)
    audience = config.decode_audience
    full = _CODEC.decode_complete(token, config.decode_key, algorithms=config.decode_algorithms,
                                  audience=audience, issuer=config.decode_issuer, leeway=config.leeway,
                                  options={"verify_aud": audience is not None, "verify_sub": config.verify_sub})
    header, claims = full["header"], full["payload"]
    if config.identity_claim_key not in claims:
        raise JWTDecodeError(f"Missing claim: {config.identity_claim_key}")
    claims.setdefault("type", "access")
    claims.setdefault("fresh", False)
    claims.setdefault("jti", None)
    return header, claims
