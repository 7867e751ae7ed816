"""Event payload limits checked before any handler sees the data."""

from __future__ import annotations

from typing import Any

from flask_socketio_jwt.core.errors import InvalidPayload

MAX_DEPTH = 8
MAX_ITEMS = 256


def check_shape(payload: Any, depth: int = 0) -> None:
    """Refuse payloads nested deeper than MAX_DEPTH or with more than MAX_ITEMS entries per level."""
    if depth > MAX_DEPTH:
        raise InvalidPayload("The payload is nested too deeply.")
    if isinstance(payload, dict):
        if len(payload) > MAX_ITEMS:
            raise InvalidPayload("The payload has too many fields.")
        for value in payload.values():
            if isinstance(value, (dict, list)):
                check_shape(value, depth + 1)
    elif isinstance(payload, list):
        if len(payload) > MAX_ITEMS:
            raise InvalidPayload("The payload has too many items.")
        for value in payload:
            if isinstance(value, (dict, list)):
                check_shape(value, depth + 1)
