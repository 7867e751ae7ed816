"""gunicorn entry point: `gunicorn -k eventlet -w 1 wsgi:app` (the worker monkey-patches first)."""

from app import create_app

app = create_app()
