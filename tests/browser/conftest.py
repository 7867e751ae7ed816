"""Browser tests: Playwright (sync API) driving Debian's Chromium against a real server.

The `web_server` fixture starts the app under gunicorn's eventlet worker (tests/conftest.py's
LiveServer) with 3-second access tokens and a throwaway SQLite database, and yields its URL.
  REALTIME_TEST_BASE_URL   use an already running server instead (nothing is started)
  REALTIME_TEST_CHROMIUM   the Chromium binary (default: /usr/bin/chromium)

No `playwright install`: Chromium comes from Debian.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LiveServer

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("REALTIME_TEST_CHROMIUM", "/usr/bin/chromium")
ACCESS_TOKEN_SECONDS = 3



def checkout_state() -> dict[str, str]:
    """Each changed or untracked path of the checkout (`git status --porcelain`) with its content hash."""
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "-z"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout
    state = {}
    for entry in filter(None, out.split("\0")):
        path = REPO_ROOT / entry[3:]
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"
        state[entry] = digest
    return state


@pytest.fixture(scope="session", autouse=True)
def checkout_unchanged():
    """The browser tests write only to temporary folders: the checkout looks the same afterwards."""
    before = checkout_state()
    yield
    after = checkout_state()
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"the browser tests changed the checkout: {changed}"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def vendored_client():
    """static/vendor/ holds socket.io-client's ES module (scripts/vendor.sh makes it)."""
    target = REPO_ROOT / "static" / "vendor" / "socket.io.esm.min.js"
    if not target.exists():
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "vendor.sh")], check=True, cwd=REPO_ROOT)
    return target


@pytest.fixture(scope="session")
def web_server(tmp_path_factory, vendored_client):
    """Base URL of a real server (gunicorn + eventlet) with 3-second access tokens."""
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
