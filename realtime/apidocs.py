"""The published contract: an OpenAPI 3.1 document of the REST API and an AsyncAPI 3.0 document
of the Socket.IO namespace, both built from the schemas in realtime/contract.py.

`REST_ROUTES` lists every documented route; a test compares it with the app's URL map, so a
route cannot be added without its documentation.
"""

from __future__ import annotations

import copy
from typing import Any

from flask_socketio_jwt import AUDIT_KINDS as KINDS
from realtime.contract import ACK_ERRORS, CONNECT_REFUSALS, ROOM_PATTERN, SCHEMAS, TOKEN_ERRORS, USER_ID_PATTERN, ref

VERSION = "1.0.0"

_STATUS_TEXT = {400: "invalid_payload (or another 4xx code) in the error envelope",
                401: "not authenticated: " + ", ".join(TOKEN_ERRORS),
                403: "forbidden", 404: "not_found", 409: "username_taken", 413: "payload_too_large",
                415: "unsupported_media_type", 429: "rate_limited (with retry_after)",
                503: "a dependency is down"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    return {str(s): _json(ref("Error"), _STATUS_TEXT[s]) for s in statuses}


def _body(name: str, *, required: bool = True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": ref(name)}}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path(name: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


_ROOM = _path("room", {"type": "string", "pattern": ROOM_PATTERN})
_USER = _path("user_id", {"type": "string", "pattern": USER_ID_PATTERN})
_SERVER_SECURITY = [{"serverKey": []}, {"accessToken": []}]
_ID = {"type": "string", "pattern": r"^[0-9]{1,19}$"}


def _op(summary: str, tag: str, responses: dict, **extra: Any) -> dict:
    return {"summary": summary, "tags": [tag], "responses": responses, **extra}


# (path, method) -> operation. The server API also accepts an admin's access token.
REST_ROUTES: dict[tuple[str, str], dict] = {
    ("/api/auth/register", "post"): _op(
        "Create a user", "auth", {"201": _json(ref("User"), "created"), **_errors(400, 409, 413, 415, 429, 503)},
        requestBody=_body("Credentials"), security=[]),
    ("/api/auth/login", "post"): _op(
        "Log in: an access and a refresh token", "auth",
        {"200": _json(ref("TokenPair"), "logged in"), **_errors(400, 401, 413, 415, 429, 503)},
        requestBody=_body("Credentials"), security=[]),
    ("/api/auth/refresh", "post"): _op(
        "A new access token for a refresh token", "auth",
        {"200": _json(ref("AccessToken"), "refreshed"), **_errors(401, 503)}, security=[{"refreshToken": []}]),
    ("/api/auth/logout", "post"): _op(
        "Revoke this login (or, with `everywhere`, every token of the user) and kick its sockets", "auth",
        {"200": _json(ref("Revoked"), "revoked token ids"), **_errors(400, 401, 413, 415, 503)},
        requestBody=_body("LogoutRequest", required=False), security=[{"accessToken": []}]),
    ("/api/auth/me", "get"): _op(
        "The user a token names", "auth", {"200": _json(ref("User"), "the user"), **_errors(401, 503)},
        security=[{"accessToken": []}]),
    ("/api/audit", "get"): _op(
        "Audit rows, newest first (admins only)", "audit",
        {"200": _json(ref("AuditPage"), "a page of rows"), **_errors(400, 401, 403, 503)},
        security=[{"accessToken": []}],
        parameters=[_query("kind", {"enum": sorted(KINDS)}, "only this kind"),
                    _query("user_id", _ID, "only this user"),
                    _query("before_id", _ID, "rows with a smaller id (the previous page's next_before_id)"),
                    _query("limit", {"type": "string", "pattern": r"^[0-9]{1,19}$"},
                           "page size, 1 or more, default 100, capped at 500")]),
    ("/healthz", "get"): _op(
        "Liveness and dependencies", "health",
        {"200": _json(ref("Health"), "healthy"), "503": _json(ref("Health"), "the database is down")},
        security=[]),
    ("/metrics", "get"): _op(
        "Prometheus metrics of this process", "health",
        {"200": {"description": "Prometheus text format",
                 "content": {"text/plain": {"schema": {"type": "string"}}}}}, security=[]),
    ("/api/openapi.json", "get"): _op(
        "This document", "docs", {"200": _json({"type": "object"}, "OpenAPI 3.1")}, security=[]),
    ("/api/asyncapi.json", "get"): _op(
        "The Socket.IO namespace as AsyncAPI 3.0", "docs", {"200": _json({"type": "object"}, "AsyncAPI 3.0")},
        security=[]),
    # -- server API --------------------------------------------------------------------------
    ("/api/server/rooms/{room}/messages", "post"): _op(
        "Publish a message to a room as `@server` (stored in its history, then broadcast)", "server",
        {"201": _json(ref("Message"), "stored and broadcast"), **_errors(400, 401, 403, 413, 415, 429, 503)},
        parameters=[_ROOM], requestBody=_body("PublishRequest"), security=_SERVER_SECURITY),
    ("/api/server/rooms/{room}/messages", "get"): _op(
        "A room's history: the last `limit` messages, or those after `since_id`", "server",
        {"200": _json(ref("History"), "oldest first"), **_errors(400, 401, 403, 429, 503)},
        parameters=[_ROOM, _query("since_id", _ID, "messages after this id (oldest first, at most HISTORY_MAX)"),
                    _query("limit", {"type": "string", "pattern": r"^[0-9]{1,19}$"},
                           "without since_id: how many of the latest (default HISTORY_LIMIT, capped at "
                           "HISTORY_MAX)")],
        security=_SERVER_SECURITY),
    ("/api/server/rooms/{room}/presence", "get"): _op(
        "Who is in a room now, on every process", "server",
        {"200": _json(ref("Presence"), "members, sorted"), **_errors(400, 401, 403, 429, 503)},
        parameters=[_ROOM], security=_SERVER_SECURITY),
    ("/api/server/users/online", "get"): _op(
        "Users with a live socket, on every process, by id", "server",
        {"200": _json(ref("OnlineUsers"), "a page of users"), **_errors(400, 401, 403, 429, 503)},
        parameters=[_query("after_id", _ID, "users with a larger id (the previous page's next_after_id)"),
                    _query("limit", {"type": "string", "pattern": r"^[0-9]{1,19}$"},
                           "page size, default and cap 1000")],
        security=_SERVER_SECURITY),
    ("/api/server/users/{user_id}/events", "post"): _op(
        "Send `server_event` to every live socket of a user, on every process", "server",
        {"200": _json(ref("EmitResult"), "sent"), **_errors(400, 401, 403, 404, 413, 415, 429, 503)},
        parameters=[_USER], requestBody=_body("EmitRequest"), security=_SERVER_SECURITY),
    ("/api/server/users/{user_id}/disconnect", "post"): _op(
        "Kick a user's sockets (or one token's) with `auth_revoked`, and revoke the token(s)", "server",
        {"200": _json(ref("DisconnectResult"), "kicked"), **_errors(400, 401, 403, 404, 413, 415, 429, 503)},
        parameters=[_USER], requestBody=_body("DisconnectRequest", required=False), security=_SERVER_SECURITY),
}


def openapi() -> dict:
    """The OpenAPI 3.1 document of every REST route."""
    paths: dict[str, dict] = {}
    for (path, method), op in REST_ROUTES.items():
        paths.setdefault(path, {})[method] = {"operationId": _operation_id(path, method), **op}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Realtime REST API", "version": VERSION,
                 "description": "Authentication, the audit log, health, and the server API for trusted "
                                "backends. Every error is `{\"error\": {\"code\", \"message\"}}`."},
        "servers": [{"url": "/"}],
        "tags": [{"name": "auth"}, {"name": "audit"}, {"name": "health"}, {"name": "docs"},
                 {"name": "server", "description": "For trusted backends: a key from SERVER_API_KEYS or "
                                                   "an admin's access token"}],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "accessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                "description": "an access token from /api/auth/login"},
                "refreshToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                 "description": "a refresh token from /api/auth/login"},
                "serverKey": {"type": "http", "scheme": "bearer",
                              "description": "a server API key from SERVER_API_KEYS"},
            },
        },
    }


def _operation_id(path: str, method: str) -> str:
    words = [w.strip("{}") for w in path.split("/") if w and w != "api"]
    return method + "".join(w[:1].upper() + w[1:] for w in "_".join(words).replace(".", "_").split("_"))


# Socket.IO events: name -> (direction, payload schema, reply schema or None, summary).
# direction "receive": the client emits it and the server answers with an ack (the reply);
# "send": the server emits it.
SOCKET_EVENTS: dict[str, tuple[str, dict | None, dict | None, str]] = {
    "connect": ("receive", ref("AuthPayload"), None,
                "The namespace CONNECT with the auth payload `{token}` (or an `Authorization: Bearer` handshake "
                "header). Success: `session`; refusal: `connect_error`."),
    "whoami": ("receive", None, {"oneOf": [ref("WhoamiAck"), ref("AckFailure")]}, "Who this connection is"),
    "join": ("receive", ref("JoinRequest"), {"oneOf": [ref("JoinAck"), ref("AckFailure")]},
             "Join a room: members and history (the last 50, or those after since_id)"),
    "leave": ("receive", ref("RoomRequest"), {"oneOf": [ref("OkAck"), ref("AckFailure")]}, "Leave a room"),
    "message": ("receive", ref("MessageRequest"), {"oneOf": [ref("MessageAck"), ref("AckFailure")]},
                "Post to a joined room: stored, then broadcast as `message`"),
    "presence": ("receive", ref("RoomRequest"), {"oneOf": [ref("PresenceAck"), ref("AckFailure")]},
                 "Who is in a room"),
    "refresh": ("receive", ref("RefreshRequest"), {"oneOf": [ref("RefreshAck"), ref("AckFailure")]},
                "Swap the connection's token in place"),
    "session": ("send", ref("Session"), None, "Sent once a connection is admitted"),
    "connect_error": ("send", ref("ConnectError"), None, "A refused connection: the code is the message"),
    "message_broadcast": ("send", ref("Message"), None, "A message, to every member of its room"),
    "presence_broadcast": ("send", ref("Presence"), None, "A room's members changed"),
    "auth_expired": ("send", ref("Kick"), None, "The token expired; the server disconnects next"),
    "auth_revoked": ("send", ref("Kick"), None, "The token was revoked; the server disconnects next"),
    "server_event": ("send", ref("ServerEvent"), None, "An event the server API sent to this user"),
}

# Two server events share a client event's name: the wire name is what a client listens for.
WIRE_NAMES = {"message_broadcast": "message", "presence_broadcast": "presence"}


def asyncapi() -> dict:
    """The AsyncAPI 3.0 document of the Socket.IO namespace `/`."""
    messages: dict[str, dict] = {}
    operations: dict[str, dict] = {}
    channel = {"$ref": "#/channels/root"}
    for key, (action, payload, reply, summary) in SOCKET_EVENTS.items():
        wire = WIRE_NAMES.get(key, key)
        msg: dict[str, Any] = {"name": wire, "title": wire, "summary": summary}
        if payload is not None:
            msg["payload"] = payload
        else:
            msg["description"] = "No payload."
        messages[key] = msg
        op: dict[str, Any] = {"action": action, "channel": channel, "summary": summary,
                              "messages": [{"$ref": f"#/channels/root/messages/{key}"}]}
        if reply is not None:
            ack = f"{key}_ack"
            messages[ack] = {"name": f"{wire} ack", "title": f"{wire} ack",
                             "summary": f"The ack of `{wire}`: `ok: true` or `ok: false` with one of "
                                        + ", ".join(ACK_ERRORS), "payload": reply}
            op["reply"] = {"channel": channel, "messages": [{"$ref": f"#/channels/root/messages/{ack}"}]}
        operations[key] = op
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Realtime Socket.IO namespace", "version": VERSION,
                 "description": "Socket.IO 4 (Engine.IO 4) at path `/socket.io`, namespace `/`. Every client event "
                                "is answered by an ack (the operation's reply). A refused connection gets "
                                "`connect_error` with one of: " + ", ".join(CONNECT_REFUSALS) + "."},
        "defaultContentType": "application/json",
        "servers": {"app": {"host": "127.0.0.1:5000", "protocol": "ws", "pathname": "/socket.io/",
                            "description": "the app itself (same origin as the REST API)",
                            "security": [{"$ref": "#/components/securitySchemes/accessToken"}]}},
        "channels": {"root": {
            "address": "/", "title": "namespace /",
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in messages}}},
        "operations": operations,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "messages": messages,
            "securitySchemes": {"accessToken": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "An access token, in the Socket.IO auth payload `{token}` (or, for clients that "
                               "cannot set it, an `Authorization: Bearer` handshake header)."}},
        },
    }
