"""gunicorn hooks (read from the working directory): flush the audit log before a worker exits.

Only hooks live here; settings stay on the command line (Makefile, docs). `worker_exit` runs on
every way a worker ends (SIGTERM after the graceful timeout, SIGINT/SIGQUIT at once, max-requests)
while its event loop still works: sockets still open get their `disconnect` row (reason
`server_shutdown`), then the queue is written, or spilled to disk for the next start.
"""

from __future__ import annotations

import logging


def worker_exit(server, worker) -> None:
    """Record the worker's open sockets as disconnected and flush the audit log."""
    app = getattr(worker, "wsgi", None)
    state = getattr(app, "extensions", {}).get("realtime")
    if state is None:
        return
    log = logging.getLogger("realtime.shutdown")
    for sid in list(state.registry.local):
        try:
            state.hub.forget(sid, "server_shutdown")
        except Exception:
            log.exception("could not record the end of socket %s", sid)
    state.audit.close()
