"""A stranger's host app: the package's wheel in a fresh venv, the host's own folder, gunicorn on loopback.

Nothing of this repository is importable in that venv or the host's folder: the host sees the
package exactly as a user who ran `pip install flask-socketio-jwt` would.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import requests

from tests.support import gunicorn
from tests.support.common import PATCHES_ENV, ROOT, WORKER, free_port

HOST = ROOT / "examples" / "host_app"
SECRET = "host-app-secret-" + "h" * 48


EXAMPLES = (ROOT / "examples" / "host_app", ROOT / "examples" / "cookie_host")


def host_requirements() -> list[str]:
    """Every example host's own pins (the package itself comes from the wheel)."""
    reqs: list[str] = []
    for example in EXAMPLES:
        for line in (example / "requirements.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#") and not line.startswith("flask-socketio-jwt") \
                    and line not in reqs:
                reqs.append(line)
    return reqs


def sources_key() -> str:
    """A digest of what goes into the wheel and the venv: a changed source makes a new one."""
    digest = hashlib.sha256()
    files = sorted((ROOT / "flask_socketio_jwt").rglob("*.py"))
    files += [ROOT / "pyproject.toml", ROOT / "requirements-gevent.txt"]
    files += [example / "requirements.txt" for example in EXAMPLES]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def shared_root(tmp_path_factory: Any) -> Path:
    """The folder every process of this test run shares (xdist gives each worker its own below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


class Host:
    """The example host app served by gunicorn from a venv that holds only the wheel and the host's pins."""

    def __init__(self, work: Path, source: Path = HOST) -> None:
        self.work = self.own_work = work
        self.port, self.source = free_port(), source
        self.url = f"http://127.0.0.1:{self.port}"
        self.venv = work / "venv"
        self.wheel: Path | None = None

    def prepare(self, tmp_path_factory: Any) -> None:
        """The wheel and a venv holding it with the hosts' pins: built once per test run and runtime,
        shared by every test process (an xdist worker waits while another builds them)."""
        shared = shared_root(tmp_path_factory) / f"wheelhost-{WORKER}-{sources_key()}"
        shared.mkdir(parents=True, exist_ok=True)
        with open(shared / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (shared / ".complete").exists():
                self.work = shared  # build() and install() write there
                self.venv = shared / "venv"
                self.install(self.build())
                (shared / ".complete").write_text("ok")
        self.wheel = next((shared / "dist").glob("flask_socketio_jwt-*.whl"))
        self.venv = shared / "venv"
        self.work = self.own_work

    def build(self) -> Path:
        """Build the wheel from a copy of the package sources (nothing is written into the repo)."""
        src = self.work / "src"
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir()
        shutil.copy(ROOT / "pyproject.toml", src)
        shutil.copytree(ROOT / "flask_socketio_jwt", src / "flask_socketio_jwt",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("README-package.md", "LICENSE"):  # pyproject's readme and license-files
            shutil.copy(ROOT / name, src)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(self.work / "dist"),
                        str(src)], check=True, capture_output=True, cwd=self.work)
        self.wheel = next((self.work / "dist").glob("flask_socketio_jwt-*.whl"))
        return self.wheel

    def install(self, wheel: Path) -> None:
        """A fresh venv with the wheel and the example hosts' own requirements."""
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True, capture_output=True)
        reqs = host_requirements()
        target = str(wheel)
        if WORKER == "gevent":
            # The same hosts on gunicorn's gevent worker: the package's [gevent] extra instead of
            # eventlet (it must bring what gunicorn's gevent worker imports) and a current gunicorn.
            reqs = [r for r in reqs if not r.startswith(("gunicorn==", "eventlet=="))]
            reqs += [line for line in (ROOT / "requirements-gevent.txt").read_text().splitlines()
                     if line.startswith("gunicorn==")]
            target += "[gevent]"
        out = subprocess.run([str(self.venv / "bin/pip"), "install", "-q", target, *reqs],
                             capture_output=True, text=True, cwd=self.work)
        assert out.returncode == 0, out.stderr[-3000:]

    def start(self, files: dict[str, Path] | None = None, **env: str) -> None:
        """gunicorn -k WORKER on a copy of the host app; its cwd and sys.path know nothing of the repo."""
        app_dir = self.work / "host"
        shutil.copytree(self.source, app_dir, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite"))
        self.app_dir = app_dir
        for dest, src in (files or {}).items():  # e.g. vendored browser files the host serves
            shutil.copytree(src, app_dir / dest) if src.is_dir() else shutil.copy(src, app_dir / dest)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.work), "PYTHONNOUSERSITE": "1",
               "FLASK_JWT_SECRET_KEY": SECRET, "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{self.work / 'h.sqlite'}",
               "FLASK_SOCKETIO_JWT_AUDIT_SPILL_FILE": str(self.work / "spill.jsonl"), **PATCHES_ENV, **env}
        log_path = self.work / "server.log"
        cmd = gunicorn.gunicorn_command(self.venv / "bin", WORKER, self.port, "wsgi:app", worker_connections=1000)
        self.proc = gunicorn.spawn(cmd, cwd=app_dir, env=env, log_path=log_path)
        gunicorn.wait_ready(self.proc, gunicorn.http_ok(self.url + "/api/health"), timeout=60, log_path=log_path,
                            what="the host app")

    def stop(self) -> None:
        """Stop gunicorn and its worker."""
        gunicorn.stop(self.proc)

    def account(self, name: str | None = None, *, admin: bool = False) -> dict:
        """Register and log in through the host's own routes."""
        name = name or "a" + uuid.uuid4().hex[:8]
        r = requests.post(self.url + "/api/register", json={"name": name, "password": "pw-" + name, "admin": admin})
        assert r.status_code == 201, r.text
        tokens = requests.post(self.url + "/api/login", json={"name": name, "password": "pw-" + name}).json()
        return {"id": r.json()["id"], "name": name, **tokens}

    def post(self, path: str, token: str) -> requests.Response:
        """POST with a Bearer token."""
        return requests.post(self.url + path, headers={"Authorization": "Bearer " + token}, timeout=5)
