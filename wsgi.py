"""gunicorn entry point: `gunicorn -k eventlet -w 1 wsgi:app` or `gunicorn -k gevent -w 1 wsgi:app`.

The standard library is patched for the async runtime before anything else is imported (the
extension and Flask included): eventlet's patcher walks every module already loaded.
"""

import os
import sys

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")  # before psycopg is imported

if "gevent" in sys.modules:
    from gevent import monkey

    if monkey.is_module_patched("socket"):  # gunicorn's gevent worker patched the process before loading us
        os.environ.setdefault("FLASK_SOCKETIO_JWT_ASYNC_MODE", '"gevent"')

if os.environ.get("FLASK_SOCKETIO_JWT_ASYNC_MODE", '"eventlet"').strip('"') == "eventlet":
    import eventlet

    eventlet.monkey_patch()  # a no-op under gunicorn's eventlet worker, which patched first

from app import create_app  # noqa: E402

app = create_app()
