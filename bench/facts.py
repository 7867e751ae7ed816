"""What a run was measured on: the commit, the machine and the versions of everything in the path.

Recorded with the raw results, so that a report re-rendered later (`--report-only`) still says
what the figures came from.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess

import psutil

from bench.config import BENCH, GEVENT_BIN, ROOT

# The Python packages a request goes through, in the order the report lists them.
PYTHON_PACKAGES = ("Flask", "Flask-SocketIO", "python-socketio", "python-engineio", "eventlet", "gunicorn",
                   "Flask-JWT-Extended", "PyJWT", "SQLAlchemy")
# The Node packages of the peer (b) and of the generator, with the folder whose node_modules holds each.
NODE_PACKAGES = (("socket.io", "peers/node"), ("jsonwebtoken", "peers/node"), ("ws", "loadgen"))


def versions() -> dict:
    """{name: version} of Python, the Python and Node packages, gevent's venv and Node itself ('?' if unknown)."""
    v = {"python": platform.python_version()}
    try:
        from importlib.metadata import version
        for pkg in PYTHON_PACKAGES:
            try:
                v[pkg] = version(pkg)
            except Exception:  # noqa: BLE001
                v[pkg] = "?"
    except ImportError:
        pass
    # The gevent runtime has a venv of its own, with its own gunicorn.
    if (GEVENT_BIN / "python").exists():
        r = subprocess.run([str(GEVENT_BIN / "python"), "-c", "from importlib.metadata import version as v; "
                            "print(v('gevent'), v('gunicorn'))"], capture_output=True, text=True)
        if r.returncode == 0:
            v["gevent"], v["gunicorn (gevent runtime)"] = r.stdout.split()
    v["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    for pkg, folder in NODE_PACKAGES:
        try:
            v[pkg] = json.loads((BENCH / folder / "node_modules" / pkg / "package.json").read_text())["version"]
        except OSError:
            v[pkg] = "?"
    return v


def machine() -> dict:
    """The CPU model, core count, memory, kernel and open-files limit of this machine."""
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "kernel": platform.release(), "os": platform.platform(),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}


def git_rev() -> str:
    """The checkout's short commit, with `+dirty` when it has uncommitted changes."""
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    d = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return r.stdout.strip() + ("+dirty" if d.stdout.strip() else "")
