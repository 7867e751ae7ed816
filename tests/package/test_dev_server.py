"""A stranger's host on Flask's and Flask-SocketIO's development servers (`flask run`, `socketio.run(app)`).

No async mode is given anywhere: Flask-SocketIO chooses it (threading under `flask run`, the
installed green runtime under `socketio.run`), and the extension keeps that choice.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import gunicorn
from tests.support.common import ROOT, RUNTIMES, WORKER, free_port
from tests.support.live import live_fixture
from tests.support.sio import Recorder

HOST = '''
from flask import Flask, jsonify
from flask_jwt_extended import JWTManager, create_access_token, get_jwt_identity
from flask_socketio import SocketIO
from flask_socketio_jwt import SocketJWT

app = Flask("devhost")
app.config.update(JWT_SECRET_KEY="d" * 40)
JWTManager(app)
socketio = SocketIO(app)
SocketJWT(app, socketio)


@socketio.on("who")
def who(data=None):
    return {"ok": True, "sub": get_jwt_identity(), "mode": socketio.async_mode}


@app.get("/token")
def token():
    return jsonify(token=create_access_token("7"))


if __name__ == "__main__":
    import sys
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), allow_unsafe_werkzeug=True)
'''


def package_only(folder: Path) -> Path:
    """A folder holding only a link to the package: the host's PYTHONPATH (nothing of the app beside it)."""
    folder.mkdir()
    (folder / "flask_socketio_jwt").symlink_to(ROOT / "flask_socketio_jwt", target_is_directory=True)
    return folder


@live_fixture
def runtime(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """(bin folder of this pass's runtime, the environment of a host in tmp_path that sees only the package).

    Declared live: every test that uses it starts a server on this pass's runtime.
    """
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "PYTHONPATH": str(package_only(tmp_path / "site"))}
    return RUNTIMES[WORKER][0], env


@pytest.fixture(params=["flask run", "socketio.run"])
def dev_server(request, tmp_path: Path, runtime) -> Iterator[tuple[str, str]]:
    (tmp_path / "devhost.py").write_text(HOST)
    port = free_port()
    bin_dir, env = runtime
    env = {**env, "FLASK_APP": "devhost"}
    if request.param == "flask run":
        cmd = [str(bin_dir / "flask"), "run", "--port", str(port), "--host", "127.0.0.1"]
    else:
        cmd = [str(bin_dir / "python"), "devhost.py", str(port)]
    log_path = tmp_path / "server.log"
    proc = gunicorn.spawn(cmd, cwd=tmp_path, env=env, log_path=log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        gunicorn.wait_ready(proc, gunicorn.http_ok(url + "/token"), timeout=30, log_path=log_path,
                            what=request.param)
        yield url, request.param
    finally:
        gunicorn.stop(proc, timeout=10)


def test_the_dev_servers_serve_the_token_check(dev_server):
    url, kind = dev_server
    anon = Recorder(url)
    try:
        assert not anon.connect(auth=None)
        refusal = anon.connect_error or {}
        assert refusal.get("data", refusal)["code"] == "auth_required"
    finally:
        anon.close()
    token = requests.get(url + "/token", timeout=5).json()["token"]
    ok = Recorder(url)
    try:
        assert ok.connect(token)
        ack = ok.call("who")
        assert ack["ok"] is True and ack["sub"] == "7"
        assert ack["mode"] == ("threading" if kind == "flask run" else WORKER)
    finally:
        ok.close()


def test_a_gunicorn_worker_of_another_runtime_stops_at_start(tmp_path: Path, runtime):
    (tmp_path / "devhost.py").write_text(HOST.replace("SocketIO(app)", 'SocketIO(app, async_mode="threading")'))
    bin_dir, env = runtime
    cmd = gunicorn.gunicorn_command(bin_dir, WORKER, free_port(), "devhost:app", worker_connections=1000)
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"runs {WORKER}" in out.stderr and f"async_mode={WORKER!r}" in out.stderr, out.stderr[-3000:]
