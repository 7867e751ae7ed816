"""Browser tests: Playwright (sync API) driving Debian's Chromium against a real server.

The `web_server` fixture starts the app under gunicorn's eventlet worker on a free loopback
port, with 3-second access tokens and a throwaway SQLite database, and yields its base URL.
Adapt it through the environment instead of editing:

  REALTIME_TEST_BASE_URL   use an already running server (nothing is started)
  REALTIME_TEST_SERVER_CMD the server command; "{port}" is replaced by the chosen port
                           (default: .venv/bin/gunicorn -k eventlet -w 1 --no-control-socket
                            -b 127.0.0.1:{port} wsgi:app)
  REALTIME_TEST_SERVER_CWD the directory to start it in (default: the repo root)
  REALTIME_TEST_PREPARE_CMD run before the server (default: .venv/bin/flask --app app db
                           upgrade); set it to "" to skip
  REALTIME_TEST_CHROMIUM   the Chromium binary (default: /usr/bin/chromium)

No `playwright install`: Chromium comes from Debian.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("REALTIME_TEST_CHROMIUM", "/usr/bin/chromium")
ACCESS_TOKEN_SECONDS = 3

DEFAULT_SERVER_CMD = (
    f"{REPO_ROOT}/.venv/bin/gunicorn -k eventlet -w 1 --no-control-socket "
    "--graceful-timeout 2 -b 127.0.0.1:{port} wsgi:app"
)
DEFAULT_PREPARE_CMD = f"{REPO_ROOT}/.venv/bin/flask --app app db upgrade"


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def server_env(tmp: Path) -> dict[str, str]:
    """Environment of the test server: short tokens, its own database and secrets."""
    env = dict(os.environ)
    env.update(
        {
            "FLASK_JWT_ACCESS_TOKEN_EXPIRES": str(ACCESS_TOKEN_SECONDS),
            # The module tests refuse connects on purpose; keep them under the address limit.
            "FLASK_AUTH_FAILURE_LIMIT": "[1000, 60]",
            "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/db.sqlite",
            # Explicit secrets so nothing is generated into the repo's instance folder.
            "FLASK_SECRET_KEY": "test-" + secrets.token_urlsafe(32),
            "FLASK_JWT_SECRET_KEY": "test-" + secrets.token_urlsafe(32),
            "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


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

    tmp = tmp_path_factory.mktemp("server")
    env = server_env(tmp)
    cwd = os.environ.get("REALTIME_TEST_SERVER_CWD", str(REPO_ROOT))
    prepare = os.environ.get("REALTIME_TEST_PREPARE_CMD", DEFAULT_PREPARE_CMD)
    if prepare.strip():
        done = subprocess.run(shlex.split(prepare), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"{prepare!r} failed:\n{done.stdout}\n{done.stderr}")

    port = _free_port()
    cmd = os.environ.get("REALTIME_TEST_SERVER_CMD", DEFAULT_SERVER_CMD).replace("{port}", str(port))
    log_path = tmp / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        shlex.split(cmd), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _healthy(base + "/healthz"):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = log_path.read_bytes()[-4000:].decode(errors="replace")
                pytest.fail(f"server did not become healthy ({cmd}):\n{tail}")
            time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        log.close()
        if os.environ.get("REALTIME_TEST_SHOW_SERVER_LOG"):
            sys.stderr.write(log_path.read_text(errors="replace"))


@pytest.fixture(scope="session")
def base_url(web_server):
    """pytest-playwright resolves relative page.goto() URLs against this."""
    return web_server
