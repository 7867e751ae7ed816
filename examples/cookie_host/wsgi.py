"""gunicorn entry point: `gunicorn -k eventlet -w 1 wsgi:app` (or `-k gevent` with gevent installed)."""

from app import create_app

app = create_app()
