"""The wire contract as JSON Schemas: one definition for the published documents and for validation.

`SCHEMAS` holds every object the REST API and the Socket.IO namespace send or accept. The
OpenAPI and AsyncAPI documents (realtime/apidocs.py) place them under `components/schemas`, the
server API validates its request bodies with them, and the tests validate what the server sends
against them. Refs are written `#/components/schemas/<Name>`, which resolves in both documents.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask_socketio_jwt import InvalidPayload

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,32}$"
ROOM_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
EVENT_NAME_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
MAX_TEXT = 2000

# Codes a client may see, by where they come from.
CONNECT_REFUSALS = ("auth_required", "token_invalid", "token_expired", "token_revoked", "wrong_token_type",
                    "user_unknown", "origin_forbidden", "rate_limited", "too_many_connections")
ACK_ERRORS = ("invalid_payload", "forbidden", "not_joined", "rate_limited", "token_expired",
              "identity_mismatch", "internal_error", "token_invalid", "token_revoked", "wrong_token_type",
              "user_unknown", "auth_required")
TOKEN_ERRORS = ("auth_required", "token_invalid", "token_expired", "token_revoked", "wrong_token_type",
                "user_unknown")


def ref(name: str) -> dict:
    """A reference to a schema in `components/schemas`."""
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict, required: list[str] | None = None, *, extra: bool = False, **kw: Any) -> dict:
    """A JSON object schema; `required` defaults to every property."""
    schema = {"type": "object", "properties": props,
              "required": list(props) if required is None else required, **kw}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _ack(success: str) -> dict:
    """An ack: the success shape or the failure shape."""
    return {"oneOf": [ref(success), ref("AckFailure")]}


_INT_ID = {"type": "integer", "minimum": 1}
_UNIX = {"type": "integer", "description": "Unix seconds"}
USER_ID_PATTERN = r"^[1-9][0-9]{0,17}$"
_USER_ID = {"type": "string", "pattern": USER_ID_PATTERN, "description": "a user id (decimal string)"}

SCHEMAS: dict[str, dict] = {
    # -- shared ---------------------------------------------------------------------------
    "ErrorDetail": _obj({
        "code": {"type": "string", "pattern": "^[a-z_]+$", "description": "machine-readable, snake_case"},
        "message": {"type": "string", "description": "human-readable"},
        "retry_after": {"type": "number", "minimum": 0, "description": "seconds (429 only)"},
    }, ["code", "message"]),
    "Error": _obj({"error": ref("ErrorDetail")}, description="Every error, on every route."),
    "User": _obj({"id": _USER_ID, "username": {"type": "string"}}),
    "Message": _obj({
        "id": _INT_ID,
        "room": {"type": "string", "pattern": ROOM_PATTERN},
        "user": {"type": "string", "description": "the sender's username; `@server` for the server API"},
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
        "ts": {"type": "number", "description": "Unix seconds (fractional)"},
    }),
    # -- REST: auth -------------------------------------------------------------------------
    "Credentials": _obj({
        "username": {"type": "string", "pattern": USERNAME_PATTERN},
        "password": {"type": "string", "minLength": 8, "maxLength": 1024,
                     "pattern": "^[^\\x00-\\x1f\\x7f]*$", "description": "no control characters"},
    }),
    "TokenPair": _obj({
        "access_token": {"type": "string"}, "refresh_token": {"type": "string"},
        "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer", "minimum": 1},
    }),
    "AccessToken": _obj({"access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
                         "expires_in": {"type": "integer", "minimum": 1}}),
    "LogoutRequest": _obj({"everywhere": {"type": "boolean", "default": False}}, []),
    "Revoked": _obj({"revoked": {"type": "array", "items": {"type": "string"}}}),
    # -- REST: audit and health ---------------------------------------------------------------
    "AuditEvent": _obj({
        "id": _INT_ID, "ts": {"type": "string", "format": "date-time"}, "kind": {"type": "string"},
        "user_id": {"type": ["string", "null"]}, "sid": {"type": ["string", "null"]},
        "remote_addr": {"type": ["string", "null"]}, "detail": {"type": "object"},
    }),
    "AuditPage": _obj({"events": {"type": "array", "items": ref("AuditEvent")},
                       "next_before_id": {"type": ["integer", "null"]}}),
    "Health": _obj({
        "status": {"enum": ["ok", "degraded"]}, "database": {"type": "string"},
        "audit_writer": {"type": "object"}, "sockets": {"type": "integer", "minimum": 0},
    }, ["status", "database"], extra=True),
    # -- REST: server API ---------------------------------------------------------------------
    "PublishRequest": _obj({"text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
                                     "description": "verbatim; no NUL or control characters but tab and newline"}}),
    "EmitRequest": _obj({
        "event": {"type": "string", "pattern": EVENT_NAME_PATTERN,
                  "description": "the application's event name, carried inside `server_event`"},
        "data": {"description": "any JSON value (at most SOCKETIO_JWT_MAX_MESSAGE_BYTES encoded)"},
    }, ["event"]),
    "EmitResult": _obj({"user_id": _USER_ID, "sockets": {"type": "integer", "minimum": 0,
                                                         "description": "the user's live sockets now"}}),
    "DisconnectRequest": _obj({
        "jti": {"type": "string", "minLength": 1, "maxLength": 64,
                "description": "only the sockets on this token (default: every socket of the user)"},
        "revoke": {"type": "boolean", "default": True,
                   "description": "also revoke the token(s), so a reconnect with them is refused"},
    }, []),
    "DisconnectResult": _obj({"user_id": _USER_ID, "jtis": {"type": "array", "items": {"type": "string"}},
                              "revoked": {"type": "boolean"}}),
    "Presence": _obj({"room": {"type": "string", "pattern": ROOM_PATTERN},
                      "members": {"type": "array", "items": {"type": "string"}}}),
    "OnlineUser": _obj({"id": _USER_ID, "username": {"type": "string"},
                        "sockets": {"type": "integer", "minimum": 1}}),
    "OnlineUsers": _obj({"users": {"type": "array", "items": ref("OnlineUser")},
                         "next_after_id": {"type": ["string", "null"]}}),
    "History": _obj({"room": {"type": "string", "pattern": ROOM_PATTERN},
                     "messages": {"type": "array", "items": ref("Message")},
                     "truncated": {"type": "boolean"}}),
    # -- Socket.IO ----------------------------------------------------------------------------
    "AuthPayload": _obj({"token": {"type": "string", "description": "an access token"}}),
    "ConnectError": _obj({
        "message": {"enum": list(CONNECT_REFUSALS)},
        "data": _obj({"code": {"enum": list(CONNECT_REFUSALS)}, "message": {"type": "string"}}),
    }, description="What a refused client receives as `connect_error`."),
    "Session": _obj({"user": ref("User"), "sid": {"type": "string"}, "expires_at": _UNIX}),
    "AckFailure": _obj({"ok": {"const": False}, "error": ref("ErrorDetail")}),
    "OkAck": _obj({"ok": {"const": True}}),
    "WhoamiAck": _obj({"ok": {"const": True}, "user": ref("User"), "expires_at": _UNIX}),
    "JoinRequest": _obj({"room": {"type": "string", "pattern": ROOM_PATTERN},
                         "since_id": {"type": "integer", "minimum": 0}}, ["room"]),
    "JoinAck": _obj({"ok": {"const": True}, "room": {"type": "string"},
                     "members": {"type": "array", "items": {"type": "string"}},
                     "history": {"type": "array", "items": ref("Message")}, "truncated": {"type": "boolean"}}),
    "RoomRequest": _obj({"room": {"type": "string", "pattern": ROOM_PATTERN}}),
    "MessageRequest": _obj({"room": {"type": "string", "pattern": ROOM_PATTERN},
                            "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}}),
    "MessageAck": _obj({"ok": {"const": True}, "id": _INT_ID}),
    "PresenceAck": _obj({"ok": {"const": True}, "room": {"type": "string"},
                         "members": {"type": "array", "items": {"type": "string"}}}),
    "RefreshRequest": _obj({"token": {"type": "string"}}),
    "RefreshAck": _obj({"ok": {"const": True}, "expires_at": _UNIX}),
    "Kick": _obj({"code": {"enum": ["token_expired", "token_revoked"]}}),
    "ServerEvent": _obj({"event": {"type": "string", "pattern": EVENT_NAME_PATTERN}, "data": {},
                         "ts": {"type": "number"}}, ["event", "data", "ts"]),
}


@cache
def _validator(name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    root = Resource.from_contents({"components": {"schemas": SCHEMAS}}, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:contract", root)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$ref": f"urn:contract#/components/schemas/{name}"}
    validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})
    return validator(schema, registry=registry)


def ecma_regex(pattern: str) -> re.Pattern[str]:
    """A published (ECMA-262) pattern for Python's `re`: a final `$` matches at the very end only.

    Python's `$` also matches before a final newline, so `^[a-z]+$` would take "paid\n", which
    an ECMA-262 engine (and so every other consumer of the schemas) refuses.
    """
    return _ecma(pattern)


@cache
def _ecma(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _ecma(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def errors(name: str, data: Any) -> list[str]:
    """Every way data fails the named schema (empty when it conforms)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in _validator(name).iter_errors(data)]


def check(name: str, data: Any) -> Any:
    """Data if it conforms to the named schema, else InvalidPayload naming the first problem."""
    found = next(iter(_validator(name).iter_errors(data)), None)
    if found is not None:
        where = "/".join(map(str, found.absolute_path))
        raise InvalidPayload(f"{'`' + where + '`: ' if where else ''}{found.message}"[:300])
    return data
