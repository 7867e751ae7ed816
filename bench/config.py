"""Where the harness runs: paths, CPUs, priorities and the BENCH_* sizes and durations.

Every benchmark module takes its settings from here. The CPUs and the nice value are module
attributes read at the moment a process starts (`config.SERVER_CPU`, not a copy made at import
time), so that a benchmark may move its servers elsewhere before it starts any (bench.scale
spreads its processes over both cores).
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TEMPLATES = BENCH / "templates"
LOADGEN = BENCH / "loadgen" / "loadgen.js"
NODE_PEER = BENCH / "peers" / "node" / "server.js"
PY = Path(sys.executable)
# The gevent runtime lives in its own venv (gunicorn 27; gunicorn 26 removed the eventlet worker).
GEVENT_BIN = ROOT / ".venv-gevent" / "bin"
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
GEN_CPU = os.environ.get("BENCH_GEN_CPU", "1")
# The machine is shared: other people's test suites run on the same two cores and
# took up to 2/3 of the server's core in trial runs. Servers and generator run at
# a raised priority so that they win their cores (BENCH_NICE=0 to turn it off).
NICE = os.environ.get("BENCH_NICE", "-10")


def pinned(cpu: str, cmd: list[str]) -> list[str]:
    """Pin to one CPU; raise the priority (the process must start its own session).

    The kernel groups processes by session (sched autogroup) and shares the CPU
    between groups before nice values count, so the new session's autogroup gets
    the nice value as well.
    """
    prefix = ["taskset", "-c", cpu]
    if NICE in ("", "0") or os.geteuid() != 0:
        return prefix + cmd
    return (["bash", "-c", f'echo {NICE} > /proc/self/autogroup 2>/dev/null; exec "$@"', "bench"]
            + prefix + ["nice", "-n", NICE] + cmd)


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment, `default` when unset."""
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    """A number setting from the environment, `default` when unset."""
    return float(os.environ.get(name, default))


def env_list(name: str, default: list[float]) -> list[float]:
    """A comma-separated list of numbers from the environment, `default` when unset."""
    v = os.environ.get(name)
    return [float(x) for x in v.split(",")] if v else default


def make_conf(smoke: bool) -> dict:
    """Sizes and durations of one run: the full benchmark's, or the smoke run's (a few clients, a few seconds).

    Every figure can be overridden by its BENCH_* variable (bench/run.sh shows a quick run).
    """
    if smoke:
        d = dict(rounds=1, connect_concurrency=5, connect_s=1, echo_small=5, echo_large=10,
                 echo_s=1, sat_clients=5, sat_window=2, sat_s=1, members=10, bcast_rates=[5, 10],
                 bcast_step_s=1, idle=20, proof=False, users=3, tokens=50, warmup_s=0.5)
    else:
        d = dict(rounds=3, connect_concurrency=20, connect_s=4, echo_small=100, echo_large=1000,
                 echo_s=6, sat_clients=50, sat_window=4, sat_s=4, members=1000,
                 bcast_rates=[5, 15, 30], bcast_step_s=3, idle=10000, proof=True, users=20,
                 tokens=2000, warmup_s=2)
    return dict(
        rounds=env_int("BENCH_ROUNDS", d["rounds"]),
        connect_concurrency=env_int("BENCH_CONNECT_CONCURRENCY", d["connect_concurrency"]),
        connect_s=env_float("BENCH_CONNECT_SECONDS", d["connect_s"]),
        echo_small=env_int("BENCH_ECHO_SMALL", d["echo_small"]),
        echo_large=env_int("BENCH_ECHO_LARGE", d["echo_large"]),
        echo_s=env_float("BENCH_ECHO_SECONDS", d["echo_s"]),
        sat_clients=env_int("BENCH_SAT_CLIENTS", d["sat_clients"]),
        sat_window=env_int("BENCH_SAT_WINDOW", d["sat_window"]),
        sat_s=env_float("BENCH_SAT_SECONDS", d["sat_s"]),
        members=env_int("BENCH_MEMBERS", d["members"]),
        bcast_rates=env_list("BENCH_BCAST_RATES", d["bcast_rates"]),
        bcast_step_s=env_float("BENCH_BCAST_STEP_SECONDS", d["bcast_step_s"]),
        idle=env_int("BENCH_IDLE", d["idle"]),
        warmup_s=env_float("BENCH_WARMUP_SECONDS", d["warmup_s"]),
        proof=os.environ.get("BENCH_PROOF", "1" if d["proof"] else "0") == "1",
        users=env_int("BENCH_USERS", d["users"]),
        tokens=env_int("BENCH_TOKENS", d["tokens"]),
        peers=os.environ.get("BENCH_PEERS", "flask-min,app-audit-on,app-gevent" if smoke else
                             "flask-min,node,app-audit-on,app-gevent,app-audit-off").split(","),
        deflate=os.environ.get("BENCH_DEFLATE", "0") == "1",
        only_idle=os.environ.get("BENCH_ONLY_IDLE", "0") == "1",
        smoke=smoke,
    )


T0 = time.time()


def log(*a: object) -> None:
    """A progress line on stderr, stamped with the seconds since the harness started."""
    print(f"[bench {time.time() - T0:6.1f}s]", *a, file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port nobody listens on right now (on the loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile() -> int:
    """Raise the open-files limit towards 20000 (one fd per socket on each side); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 20000) if hard != resource.RLIM_INFINITY else 20000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
