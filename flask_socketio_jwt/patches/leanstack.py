"""Smaller parked readers: what each idle WebSocket keeps on its green thread's stack and environ.

An idle WebSocket is a green thread parked in `recv`, deep inside the WSGI call chain. Two
things it keeps are avoidable (measured with tracemalloc and RSS, 3,000 idle sockets):

- engine.io's WSGI middleware defines a new `Input` class on every gunicorn request to hand
  eventlet the connection socket; the class lives as long as the WebSocket (~3 KiB each).
  `prefill_input` puts a shared-class wrapper in `environ['eventlet.input']` first and takes
  `gunicorn.socket` out, so engine.io's branch never runs (gunicorn reads neither key).
- calling an object with a Python `__call__` (a WSGI middleware instance) makes CPython 3.11
  start a nested C-level interpreter loop, and the parked greenlet keeps a copy of that C stack:
  ~750 bytes per layer. A plain function or bound method is called without nesting, so `flat`
  hands out the bound `__call__` of each middleware we stack (always: it changes no behaviour).

`prefill_input` is installed with lean sockets (`SOCKETIO_JWT_LEAN_ENGINEIO`) under eventlet.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

WsgiApp = Callable[[dict, Callable], Any]

# prefill_input stands in for python-engineio 4.15's per-request `Input` class under gunicorn.
WRITTEN_FOR = {"python-engineio": ("4.13", "4.16"), "eventlet": ("0.40", "0.42")}


def missing(_target: Any = None) -> list[str]:
    """Nothing to look up: both wrappers only set environ keys and change no object."""
    return []


def flat(app: Any) -> Any:
    """The same WSGI app as a function or bound method (no nested C interpreter frame per call)."""
    if isinstance(app, (types.FunctionType, types.MethodType)):
        return app
    call = next((k.__dict__["__call__"] for k in type(app).__mro__ if "__call__" in k.__dict__), None)
    return app.__call__ if isinstance(call, types.FunctionType) else app


class EventletInput:
    """What eventlet's WebSocket code reads from `environ['eventlet.input']`: the connection socket."""

    __slots__ = ("socket",)

    def __init__(self, sock: Any) -> None:
        self.socket = sock

    def get_socket(self) -> Any:
        """The client connection."""
        return self.socket


def prefill_input(app: WsgiApp) -> WsgiApp:
    """Wrap a WSGI app so gunicorn's socket reaches engine.io as `eventlet.input` without a class per request."""
    def wsgi(environ: dict, start_response: Callable) -> Any:
        sock = environ.pop("gunicorn.socket", None)
        if sock is not None and "eventlet.input" not in environ:
            environ["eventlet.input"] = EventletInput(sock)
        return app(environ, start_response)

    return wsgi
