"""gunicorn entry point: `gunicorn -k eventlet -w 1 wsgi:app` or `gunicorn -k gevent -w 1 wsgi:app`."""

import os
import sys

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")  # before psycopg is imported

if "gevent" in sys.modules:
    from flask_socketio_jwt.runtime import gevent_patched as patched

    if patched():  # gunicorn's gevent worker patched the process before loading us
        os.environ.setdefault("FLASK_SOCKETIO_JWT_ASYNC_MODE", '"gevent"')

if os.environ.get("FLASK_SOCKETIO_JWT_ASYNC_MODE", '"eventlet"').strip('"') == "eventlet":
    from flask_socketio_jwt.runtime import monkey_patch

    monkey_patch()

from app import create_app  # noqa: E402

app = create_app()
