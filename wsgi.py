"""gunicorn entry point: `gunicorn -k eventlet -w 1 wsgi:app`."""

import os

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")  # before psycopg is imported

if os.environ.get("FLASK_SOCKETIO_ASYNC_MODE", '"eventlet"').strip('"') == "eventlet":
    from flask_socketio_jwt.runtime.green import monkey_patch

    monkey_patch()

from app import create_app  # noqa: E402

app = create_app()
