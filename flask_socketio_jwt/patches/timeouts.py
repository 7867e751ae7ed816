"""Connect timeout: close Engine.IO sessions that do not join the namespace in time.

python-socketio has no such option (Node's `connectTimeout`). We wrap the Engine.IO
`connect`/`disconnect` handlers to track sessions and run one background task, only while
some session is waiting, that closes each late one and audits `connect_timeout`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask_socketio_jwt.core.audit import AuditLog
from flask_socketio_jwt.core.pending import Pending, PendingSessions
from flask_socketio_jwt.patches import has

log = logging.getLogger(__name__)

WRITTEN_FOR = {"python-socketio": ("5.16", "5.19"), "python-engineio": ("4.13", "4.16")}


def missing(socketio: Any) -> list[str]:
    """The engine.io and python-socketio internals the connect timeout needs."""
    return has(socketio, "server.eio.handlers", "server.eio.on", "server.eio.sockets", "server.eio.reason",
               "server.manager.sid_from_eio_sid", "server.manager.get_namespaces")

MIN_NAP = 0.05
MAX_NAP = 1.0


class ConnectTimeout:
    """Tracks Engine.IO sessions of one Socket.IO server until they join a namespace."""

    def __init__(self, socketio: Any, audit: AuditLog, timeout: float) -> None:
        self.socketio, self.audit = socketio, audit
        self.server = socketio.server
        self.eio = self.server.eio
        self.pending = PendingSessions(timeout)
        self._lock = threading.Lock()
        self._running = False

    def install(self) -> ConnectTimeout:
        """Wrap the Engine.IO connect and disconnect handlers."""
        on_connect, on_disconnect = self.eio.handlers["connect"], self.eio.handlers["disconnect"]

        def connect(eio_sid: str, environ: dict) -> Any:
            result = on_connect(eio_sid, environ)
            if result is None or result is True:
                self.pending.opened(eio_sid, environ.get("REMOTE_ADDR"))
                self._ensure_sweeper()
            return result

        def disconnect(eio_sid: str, reason: Any = None) -> Any:
            self.pending.settled(eio_sid)
            return on_disconnect(eio_sid, reason)

        self.eio.on("connect", connect)
        self.eio.on("disconnect", disconnect)
        return self

    def joined(self, eio_sid: str) -> bool:
        """True when the session has connected to any namespace."""
        manager = self.server.manager
        return any(manager.sid_from_eio_sid(eio_sid, ns) for ns in list(manager.get_namespaces()))

    def expire(self, late: Pending) -> None:
        """Close one late session unless it joined meanwhile; audited."""
        if self.joined(late.session_id):
            return
        sock = self.eio.sockets.get(late.session_id)
        if sock is None or sock.closed or sock.closing:
            return
        self.audit.enqueue("connect_timeout", sid=late.session_id, remote_addr=late.remote_addr,
                           seconds=self.pending.timeout)
        # wait=False: a polling session with no pending GET would otherwise block this task.
        sock.close(wait=False, abort=False, reason=self.eio.reason.SERVER_DISCONNECT)
        self.eio.sockets.pop(late.session_id, None)

    def _ensure_sweeper(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        self.socketio.start_background_task(self._sweep)

    def _sweep(self) -> None:
        """Runs while sessions are waiting; exits when none is left."""
        while True:
            with self._lock:
                deadline = self.pending.next_deadline()
                if deadline is None:
                    self._running = False
                    return
            self.socketio.sleep(min(MAX_NAP, max(MIN_NAP, deadline - time.monotonic())))
            for late in self.pending.due():
                try:
                    self.expire(late)
                except Exception:  # one bad session must not stop the sweeper
                    log.exception("closing late session %s failed", late.session_id)


def install(socketio: Any, audit: AuditLog, timeout: float) -> ConnectTimeout:
    """Start enforcing `SOCKETIO_JWT_CONNECT_TIMEOUT` on this Socket.IO server."""
    return ConnectTimeout(socketio, audit, timeout).install()
