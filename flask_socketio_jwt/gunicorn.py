"""gunicorn hooks for a host served by gunicorn: no audit row is lost when a worker stops.

Call them from the host's `gunicorn.conf.py`, importing this module inside the hooks (that file is
read before the worker's async runtime patches the standard library)::

    def post_worker_init(worker):
        from flask_socketio_jwt.gunicorn import post_worker_init
        post_worker_init(worker)

    def worker_exit(server, worker):
        from flask_socketio_jwt.gunicorn import worker_exit
        worker_exit(server, worker)

- SIGTERM (graceful stop): WebSockets never end by themselves, so gunicorn would wait out
  `--graceful-timeout` and then SIGKILL the worker with the audit queue still in memory. Instead,
  after a short drain the worker records a `disconnect` (reason `server_shutdown`) for each open
  socket and closes its Engine.IO session: clients see "transport close" and reconnect (to
  another worker or host), every connection's green thread ends, the worker exits at once and
  `worker_exit` flushes. Should it still be running 2.5 s before the deadline (a request that
  does not finish), the audit log is closed then; later rows go straight to the spill file, so
  the SIGKILL that follows loses nothing.
- `worker_exit` runs on every way a worker ends (SIGTERM, SIGINT/SIGQUIT at once, max-requests)
  while its event loop still works: it records sockets still open, then writes the queue, or
  spills it to disk for the next start.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from flask_socketio_jwt.core.state import STATE_KEY

log = logging.getLogger(__name__)

__all__ = ["post_worker_init", "worker_exit"]

DEADLINE_MARGIN = 2.5  # seconds before gunicorn's graceful timeout to close the audit log


def _parts(worker: Any) -> tuple[Any, Any]:
    """The served app's extension state and Flask-SocketIO object, or (None, None) for another app."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    return extensions.get(STATE_KEY), extensions.get("socketio")


def _forget_open_sockets(state: Any) -> None:
    for sid in list(state.registry.local):
        try:
            state.hub.forget(sid, "server_shutdown")
        except Exception:
            log.exception("could not record the end of socket %s", sid)


def _drain(worker: Any, state: Any, socketio: Any) -> None:
    """Let in-flight work finish, then end every socket so the worker can exit and flush."""
    socketio.sleep(_grace(worker))
    _forget_open_sockets(state)
    eio = socketio.server.eio
    for eio_sid, sock in list(eio.sockets.items()):
        try:
            sock.close(wait=False)  # the default waits for the send queue, which a busy socket may never empty
            eio.sockets.pop(eio_sid, None)
        except Exception:
            log.exception("could not close an Engine.IO session")


def _close_before_deadline(worker: Any, state: Any, socketio: Any) -> None:
    """Close the audit log shortly before gunicorn's graceful timeout ends in a SIGKILL."""
    # A request that does not finish keeps the worker past the deadline, so the master's SIGKILL
    # may come first. Rows enqueued afterwards go to the spill file.
    socketio.sleep(max(0.1, float(worker.cfg.graceful_timeout) - DEADLINE_MARGIN))
    state.audit.close(timeout=1.0)


def _grace(worker: Any) -> float:
    return max(0.2, min(2.0, float(worker.cfg.graceful_timeout) / 4))


def post_worker_init(worker: Any) -> None:
    """Chain a SIGTERM handler that drains sockets and the audit log before the graceful deadline."""
    state, socketio = _parts(worker)
    if state is None or socketio is None:
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)
        socketio.start_background_task(_drain, worker, state, socketio)
        socketio.start_background_task(_close_before_deadline, worker, state, socketio)

    signal.signal(signal.SIGTERM, on_term)


def worker_exit(server: Any, worker: Any) -> None:
    """Record the worker's open sockets as disconnected and flush the audit log."""
    state, _ = _parts(worker)
    if state is None:
        return
    _forget_open_sockets(state)
    state.audit.close()
