"""The server API at /api/server, for trusted backends: publish, send to a user, kick, presence, history.

Authenticated by `Authorization: Bearer <key>` with a key from SERVER_API_KEYS, or an admin's
access token. Every call is audited, rate limited per caller (SERVER_API_RATE_LIMIT) and works
across processes. Request bodies are validated with the published schemas (realtime/contract.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request

from blueprints.common import bearer_token, load_json, remote_addr
from flask_socketio_jwt import AuthError, Forbidden, InvalidPayload, RateLimited, get_state
from realtime import contract, rooms, tokens
from realtime.serverapi import Caller, ServerApi, install

bp = Blueprint("server_api", __name__)

MAX_ID = 2**63 - 1
ONLINE_PAGE = 1000


def api() -> ServerApi:
    """The app's server API state."""
    return current_app.extensions["server_api"]


def _audit(kind: str, *, user_id: Any = None, **detail: Any) -> None:
    get_state().audit.enqueue(kind, user_id=user_id, remote_addr=remote_addr(), caller=g.caller.label(), **detail)


def _authenticate() -> Caller:
    """The caller, or the contract's error; each refusal counts against the address
    (SOCKETIO_JWT_AUTH_FAILURE_LIMIT)."""
    state, addr = get_state(), remote_addr() or "?"
    state.hub.check_address(addr)  # an address that guessed too often is refused first
    presented = bearer_token()
    try:
        if presented is None:
            raise AuthError("A server API key or an admin's access token is required.", code="auth_required")
        name = api().key_name(presented)
        if name is not None:
            return Caller("key", name)
        try:
            ident = tokens.verify(presented, "access")
        except AuthError as exc:
            if exc.code == "token_invalid":  # neither a key nor a token: say so
                raise AuthError("Neither a server API key nor a valid access token.") from None
            raise
        if not ident.is_admin:
            raise Forbidden("The server API takes a server API key or an admin's access token.")
        return Caller("admin", ident.user_id)
    except (AuthError, Forbidden) as exc:
        # Every refusal counts (no caller needs one): it bounds guessing and the audit rows it leaves.
        state.hub.auth_failures.hit(addr)
        state.audit.enqueue("server_refused", remote_addr=addr, code=exc.code, path=request.path[:128])
        raise


def server_call(fn: Callable) -> Callable:
    """Authenticate, then rate limit per caller (one audit row per limited episode)."""
    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        g.caller = caller = _authenticate()
        retry, first = api().take(caller)
        if retry:
            if first:
                _audit("rate_limited", scope="server_api")
            raise RateLimited(retry)
        return fn(*args, **kwargs)
    return inner


def _body(schema: str, *, optional: bool = False) -> dict:
    """The JSON body, validated against a published schema."""
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
    if optional and not raw:
        return {}
    if not request.is_json:
        raise InvalidPayload("Send a JSON object with Content-Type: application/json.")
    return contract.check(schema, load_json(raw))


def _args(allowed: set[str]) -> None:
    unknown = set(request.args) - allowed
    if unknown:
        raise InvalidPayload(f"Unknown query parameter(s): {', '.join(sorted(unknown))[:200]}.")
    if any(len(request.args.getlist(name)) > 1 for name in request.args):
        raise InvalidPayload("Give each query parameter once.")


def _int_arg(name: str, lo: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not lo <= int(raw) <= MAX_ID:
        raise InvalidPayload(f"`{name}` must be an integer of at least {lo}.")
    return int(raw)


def _room(room: str) -> str:
    return rooms.room_name({"room": room})


@bp.post("/rooms/<room>/messages")
@server_call
def publish(room: str):
    """Store a message from `@server` in a room's history and broadcast it."""
    room = _room(room)
    text = rooms.message_text(_body("PublishRequest"))
    msg = api().publish(room, text)
    _audit("server_publish", room=room, message_id=msg["id"])
    return jsonify(msg), 201


@bp.get("/rooms/<room>/messages")
@server_call
def history(room: str):
    """A room's history: the latest messages, or those after `since_id`."""
    room = _room(room)
    _args({"since_id", "limit"})
    since, limit = _int_arg("since_id", 0), _int_arg("limit", 1)
    messages, truncated = api().history(room, since, limit)
    _audit("server_read", op="history", room=room, count=len(messages))
    return jsonify({"room": room, "messages": messages, "truncated": truncated})


@bp.get("/rooms/<room>/presence")
@server_call
def presence(room: str):
    """Who is in a room, on every process."""
    room = _room(room)
    _args(set())
    members = api().presence(room)
    _audit("server_read", op="presence", room=room, count=len(members))
    return jsonify({"room": room, "members": members})


@bp.get("/users/online")
@server_call
def online():
    """Users with a live socket, by id, paged with `after_id`."""
    _args({"after_id", "limit"})
    after, limit = _int_arg("after_id", 0) or 0, min(_int_arg("limit", 1) or ONLINE_PAGE, ONLINE_PAGE)
    users, next_after = api().online(after, limit)
    _audit("server_read", op="online", count=len(users))
    return jsonify({"users": users, "next_after_id": next_after})


@bp.post("/users/<user_id>/events")
@server_call
def emit(user_id: str):
    """Send `server_event` `{event, data, ts}` to every live socket of a user."""
    body = _body("EmitRequest")
    sockets = api().emit(user_id, body["event"], body.get("data"))
    _audit("server_emit", user_id=user_id, event=body["event"])
    return jsonify({"user_id": user_id, "sockets": sockets})


@bp.post("/users/<user_id>/disconnect")
@server_call
def disconnect(user_id: str):
    """Kick a user's sockets, or one token's, with `auth_revoked`; revokes the token(s) unless told not to."""
    body = _body("DisconnectRequest", optional=True)
    revoke = body.get("revoke", True)
    jtis = api().disconnect(user_id, body.get("jti"), revoke)
    _audit("server_disconnect", user_id=user_id, tokens=len(jtis), revoke=revoke, scope="token" if body.get("jti")
           else "user")
    return jsonify({"user_id": user_id, "jtis": jtis, "revoked": revoke})


def init_app(app: Flask, url_prefix: str = "/api/server") -> None:
    """Mount the server API on an app whose socket layer (`sockets.init_app`) is set up."""
    app.extensions["server_api"] = install(get_state(app), app.config)
    app.register_blueprint(bp, url_prefix=url_prefix)
