"""One error vocabulary: every failure the contract names is an AppError with a code."""

from __future__ import annotations


class AppError(Exception):
    """A failure with a contract code, an HTTP status and a human message."""

    code = "internal_error"
    status = 500
    message = "Internal error."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status: int | None = None, **extra: object) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if message is not None:
            self.message = message
        self.extra = extra
        super().__init__(self.message)

    def to_dict(self) -> dict:
        """The contract's error object: {"code", "message"} plus any extra fields."""
        return {"code": self.code, "message": self.message, **self.extra}


class InvalidPayload(AppError):
    code, status, message = "invalid_payload", 400, "The request body is not valid."


class AuthError(AppError):
    """Authentication failed; the code says why."""

    code, status, message = "token_invalid", 401, "The token is not valid."


AUTH_MESSAGES = {
    "auth_required": "An access token is required.",
    "token_invalid": "The token is not valid.",
    "token_expired": "The token has expired.",
    "token_revoked": "The token has been revoked.",
    "wrong_token_type": "This token type cannot be used here.",
    "user_unknown": "The user does not exist or is disabled.",
    "invalid_credentials": "Unknown username or wrong password.",
    "identity_mismatch": "The new token names another user.",
}


def auth_error(code: str) -> AuthError:
    """An AuthError with the contract's message for code."""
    return AuthError(AUTH_MESSAGES.get(code, "Authentication failed."), code=code)


class Forbidden(AppError):
    code, status, message = "forbidden", 403, "You may not do that."


class NotFound(AppError):
    code, status, message = "not_found", 404, "Not found."


class Conflict(AppError):
    code, status, message = "username_taken", 409, "That username is taken."


class RateLimited(AppError):
    code, status, message = "rate_limited", 429, "Too many requests; slow down."

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message, retry_after=round(max(retry_after, 0.001), 3))  # never 0: try again later
        self.retry_after = retry_after


class NotJoined(AppError):
    code, status, message = "not_joined", 400, "Join the room first."


class TooManyConnections(AppError):
    code, status, message = "too_many_connections", 429, "Too many live connections for this user."


class OriginForbidden(AppError):
    code, status, message = "origin_forbidden", 403, "This origin may not open a socket."


class Unavailable(AppError):
    code, status, message = "unavailable", 503, "A dependency is unavailable."
