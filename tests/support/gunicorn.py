"""Starting real servers for the tests and the benchmarks: one gunicorn command line, one readiness wait.

`gunicorn_command()` builds the command line every gunicorn of this repository runs with (one
worker of the given class, no control socket); `spawn()` starts a server process in its own
process group with its output in a log file; `wait_ready()` polls a readiness probe
(`http_ok()`, `accepts_connections()`) until it holds, and fails at once, with the end of the
log, if the process exits first; `stop()` stops the process and reaps what is left of its group.

Only the standard library: the benchmarks (`python -m bench.bench`, run from the checkout's root)
can import it as well as the tests.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

# Called with each command line before spawn() starts it; the test suite checks there that a
# test which starts a server carries the `live` marker (tests/support/live.py).
before_spawn: list[Callable[[Sequence[str]], None]] = []


def gunicorn_command(bin_dir: str | Path, worker: str, port: int, app_spec: str, *, worker_connections: int,
                     graceful_timeout: int | None = None, log_level: str | None = None,
                     host: str = "127.0.0.1") -> list[str]:
    """`gunicorn -k WORKER -w 1 --no-control-socket ... -b HOST:PORT APP_SPEC` from the venv bin folder `bin_dir`."""
    cmd = [str(Path(bin_dir) / "gunicorn"), "-k", worker, "-w", "1", "--no-control-socket",
           "--worker-connections", str(worker_connections)]
    if graceful_timeout is not None:
        cmd += ["--graceful-timeout", str(graceful_timeout)]
    if log_level is not None:
        cmd += ["--log-level", log_level]
    return cmd + ["-b", f"{host}:{port}", app_spec]


def spawn(cmd: Sequence[str], *, cwd: str | Path, env: Mapping[str, str], log_path: Path) -> subprocess.Popen:
    """Start a server: its own session (stop() reaps its workers too), stdout and stderr appended to `log_path`."""
    for check in before_spawn:
        check(cmd)
    with open(log_path, "ab") as log:
        return subprocess.Popen([str(part) for part in cmd], cwd=cwd, env=dict(env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def http_ok(url: str, timeout: float = 1.0) -> Callable[[], bool]:
    """A probe: True once GET `url` answers 200 (plain HTTP, no proxy)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def probe() -> bool:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    return probe


def accepts_connections(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> Callable[[], bool]:
    """A probe: True once something accepts TCP connections on host:port."""
    def probe() -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False

    return probe


def log_tail(log_path: Path | None, chars: int = 3000) -> str:
    """The end of a server's log ('' without one)."""
    if log_path is None or not Path(log_path).exists():
        return ""
    return Path(log_path).read_text(errors="replace")[-chars:]


def wait_ready(proc: subprocess.Popen, ready: Callable[[], bool], *, timeout: float = 30.0,
               interval: float = 0.1, log_path: Path | None = None, what: str = "server") -> None:
    """Poll `ready()` until it holds; a RuntimeError (with the log's end) if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}:\n{log_tail(log_path)}")
        if ready():
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what} was not ready within {timeout:g} s:\n{log_tail(log_path)}")
        time.sleep(interval)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
    """Send `sig`, wait (SIGKILL after `timeout`), then kill whatever is left of the process group.

    A worker whose master died (SIGKILL, timeout) must not outlive its test. Safe to call twice.
    """
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode
