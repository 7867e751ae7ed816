"""Request helpers shared by the REST blueprints: JSON bodies, the token guard, errors."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, g, jsonify, request
from flask_jwt_extended import get_current_user, get_jwt, verify_jwt_in_request
from werkzeug.exceptions import HTTPException

from flask_socketio_jwt import InvalidPayload, SocketJWTError, Unavailable, auth_error, is_outage
from realtime import tokens

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
              429: "rate_limited", 500: "internal_error"}


def error_body(code: str, message: str, status: int, **extra: Any) -> tuple:
    """The contract's error response."""
    return jsonify({"error": {"code": code, "message": message, **extra}}), status


# Deeper request bodies are refused: no route needs more, and every later walk stays shallow.
MAX_JSON_DEPTH = 32


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


def load_json(raw: bytes) -> Any:
    """A request body's JSON; not JSON, NaN/Infinity or nested deeper than MAX_JSON_DEPTH: InvalidPayload."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # json's own recursion guard on pathological nesting
        raise InvalidPayload("The body is not JSON (or is nested too deeply).") from None
    level: list[Any] = [data]
    for _ in range(MAX_JSON_DEPTH + 1):  # breadth-first, one nesting level per round
        level = [v for item in level if isinstance(item, (dict, list))
                 for v in (item.values() if isinstance(item, dict) else item) if isinstance(v, (dict, list))]
        if not level:
            return data
    raise InvalidPayload(f"The body is nested deeper than {MAX_JSON_DEPTH} levels.")


def json_object(allowed: set[str], required: set[str] = frozenset(), *, optional_body: bool = False) -> dict:
    """The request's JSON object with only `allowed` keys and all `required` ones."""
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if optional_body and not raw:
        return {}
    if not request.is_json:
        raise InvalidPayload("Send a JSON object with Content-Type: application/json.")
    data = load_json(raw)
    if not isinstance(data, dict):
        raise InvalidPayload("The body must be a JSON object.")
    extra = set(data) - allowed
    if extra:
        raise InvalidPayload(f"Unexpected field(s): {', '.join(sorted(map(str, extra)))[:200]}.")
    missing = required - set(data)
    if missing:
        raise InvalidPayload(f"Missing field(s): {', '.join(sorted(missing))}.")
    return data


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_required(token_type: str = "access") -> Callable:
    """The contract's token checks with their codes (the extension's `verify_token`: size, claims as
    sent, type, this app's loaders), then flask-jwt-extended's own `verify_jwt_in_request`, so
    get_jwt(), get_jwt_identity() and current_user work as in any route; the identity in `g.identity`."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            if token is None:
                raise auth_error("auth_required")
            tokens.verify(token, token_type)  # refusals with the contract's codes
            verify_jwt_in_request(refresh=token_type == "refresh")  # the loaders' answers are cached per token
            g.identity = tokens.identity_of(get_jwt(), get_current_user())
            return fn(*args, **kwargs)
        return inner
    return wrap


def remote_addr() -> str | None:
    """The client address (ProxyFix has applied TRUSTED_PROXIES)."""
    return request.remote_addr


def register_error_handlers(app: Flask) -> None:
    """One place turns SocketJWTError and every HTTP error into the contract's JSON body."""
    @app.errorhandler(SocketJWTError)
    def _app_error(exc: SocketJWTError):
        return error_body(exc.code, exc.message, exc.status, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        resp, _ = error_body(HTTP_CODES.get(status, "http_error"), exc.description or exc.name, status)
        if status == 405 and exc.get_response().headers.get("Allow"):
            resp.headers["Allow"] = exc.get_response().headers["Allow"]
        return resp, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_outage(exc):  # the database or Redis cannot be reached now: retryable, no traceback
            log.warning("%s %s: %s unavailable", request.method, request.path, type(exc).__name__)
            resp, status = error_body("unavailable", Unavailable().message, 503)
            resp.headers["Retry-After"] = "1"
            return resp, status
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_body("internal_error", "Internal error.", 500)
