"""Browser tests of the demo app: Playwright (sync API) driving Debian's Chromium against a real server.

The `web_server` fixture starts the app under gunicorn (tests/app/conftest.py's LiveServer, the
runtime of this pass) with 3-second access tokens and a throwaway SQLite database, and yields its URL.
  REALTIME_TEST_BASE_URL   use an already running server instead (nothing is started)
  REALTIME_TEST_CHROMIUM   the Chromium binary (default: /usr/bin/chromium)

No `playwright install`: Chromium comes from Debian (tests/support/browser.py).
"""

from __future__ import annotations

import os

import pytest

from tests.app.conftest import LiveServer
from tests.support.browser import browser_type_launch_args, checkout_unchanged, vendored_client  # noqa: F401
from tests.support.live import live_fixture

ACCESS_TOKEN_SECONDS = 3


@live_fixture(scope="session")
def web_server(tmp_path_factory, vendored_client):  # noqa: F811 - requests the imported fixture
    """Base URL of a real server with 3-second access tokens."""
    external = os.environ.get("REALTIME_TEST_BASE_URL")
    if external:
        yield external.rstrip("/")
        return
    server = LiveServer(tmp_path_factory.mktemp("server"), {
        "FLASK_JWT_ACCESS_TOKEN_EXPIRES": str(ACCESS_TOKEN_SECONDS),
        # The module tests refuse connects on purpose; keep them under the address limit.
        "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[1000, 60]",
    })
    server.migrate()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def base_url(web_server):
    """pytest-playwright resolves relative page.goto() URLs against this."""
    return web_server
