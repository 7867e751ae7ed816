"""gunicorn hooks (read from the working directory): the extension's, so no audit row is lost when a
worker stops (flask_socketio_jwt/gunicorn.py). Settings stay on the command line (Makefile, docs).

The package is imported inside the hooks, not here: this file is read before the worker's async
runtime patches the standard library, and nothing of the app may be imported before that.
"""

from typing import Any


def post_worker_init(worker: Any) -> None:
    """Drain sockets and the audit log on SIGTERM (the extension's hook)."""
    from flask_socketio_jwt.gunicorn import post_worker_init as hook

    hook(worker)


def worker_exit(server: Any, worker: Any) -> None:
    """Record open sockets as disconnected and flush the audit log (the extension's hook)."""
    from flask_socketio_jwt.gunicorn import worker_exit as hook

    hook(server, worker)
