"""Peer (c): the app under test, exactly as `wsgi:app`, plus the event-loop lag
probe used for every Python peer (BENCH_LAG_FILE). Run from the repo root:

    gunicorn -k eventlet -w 1 --no-control-socket --worker-connections 20000 \
        bench.peers.app_wsgi:app
"""

import os

from wsgi import app  # noqa: F401  (the app under test, unchanged)

from bench.lagprobe import start_lag_probe

start_lag_probe(os.environ.get("BENCH_LAG_FILE"))
