"""Driving the load generator (bench/loadgen/loadgen.js): one run, the phases of a round, the idle
phase and the generator's own proof.

The generator prints `#MARK start|end <ms>` around its measurement window, `#READY` when its
sockets are up (it then waits for a line on stdin), `RESULT <json>` at the end, and progress
lines starting with `#`. The server's CPU, its core's load and its event-loop pauses are sampled
here at the marks, so that every figure covers the same window as the generator's.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

from bench import config
from bench.config import LOADGEN, ROOT, env_float, log, pinned
from bench.servers import PEER_INFO, Server, kind

PHASES = ("connect", "echo_small", "echo_large", "saturate", "broadcast")


def cpu_busy(cpu: str) -> tuple[float, float]:
    """(busy, total) jiffies of one CPU from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith(f"cpu{cpu} "):
                    v = [int(x) for x in line.split()[1:]]
                    idle = v[3] + v[4]
                    return sum(v) - idle, sum(v)
    except OSError:
        pass
    return 0.0, 0.0


def run_gen(srv: Server | None, port: int, cfg: dict, tokens: list[str], workdir: Path,
            on_ready=None, timeout=600) -> dict:
    """Run the generator once with `cfg` against `port`; its result, plus the server's figures for the window.

    `on_ready(result)` runs when the generator's sockets are up and before it goes on (the idle
    phase measures memory there). With `srv`, the result gains server_cpu, server_core_busy,
    server_core_others, lag_samples, lag_max_ms and window_ms.
    """
    cfg = dict(cfg, port=port, tokens=tokens)
    cfg.setdefault("timeout_s", timeout - 10)
    path = workdir / f"gen-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.Popen(pinned(config.GEN_CPU, ["node", str(LOADGEN), str(path)]), cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                            start_new_session=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    result = {"error": "no result"}
    marks = {}
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("#MARK "):
                _, name, ms = line.split()
                marks[name] = (float(ms), srv.cpu() if srv else None, time.monotonic(), cpu_busy(config.SERVER_CPU))
            elif line.startswith("#READY"):
                if on_ready:
                    on_ready(result)
                proc.stdin.write("go\n")
                proc.stdin.flush()
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
            elif line.startswith("#"):
                log("   ", line[2:])
    finally:
        timer.cancel()
        proc.wait(timeout=30)
        path.unlink(missing_ok=True)
    if "start" in marks and "end" in marks and srv:
        (t0, c0, m0, b0), (t1, c1, m1, b1) = marks["start"], marks["end"]
        result["server_cpu"] = (c1 - c0) / max(m1 - m0, 1e-6) * 100
        # how busy the server's core was, and how much of that was someone else (noise)
        if b1[1] > b0[1]:
            busy = (b1[0] - b0[0]) / (b1[1] - b0[1]) * 100
            result["server_core_busy"] = busy
            result["server_core_others"] = max(0.0, busy - result["server_cpu"])
        result["lag_samples"] = srv.lag_samples(t0, t1)
        result["lag_max_ms"] = max((ms for _, ms in result["lag_samples"]), default=None)
        result["window_ms"] = [t0, t1]
    return result


def phase_config(phase: str, peer: str, conf: dict) -> dict:
    """The generator's config for one phase of one peer (the benchmark, bench.profile and bench.ab share it)."""
    ev = PEER_INFO[kind(peer)]["event"]
    args = ["whoami"] if ev == "whoami" else ["echo", {"p": "x" * 32}]
    base = {"deflate": conf["deflate"]}
    if phase == "connect":
        return dict(base, mode="connect", concurrency=conf["connect_concurrency"],
                    warmup_s=min(1, conf["warmup_s"]), duration_s=conf["connect_s"], max_count=8000)
    if phase in ("echo_small", "echo_large"):
        return dict(base, mode="echo", clients=conf[phase], rate_per_client=1, event_args=args,
                    warmup_s=conf["warmup_s"], duration_s=conf["echo_s"])
    if phase == "saturate":
        return dict(base, mode="saturate", clients=conf["sat_clients"], window=conf["sat_window"],
                    event_args=args, warmup_s=min(1, conf["warmup_s"]), duration_s=conf["sat_s"])
    if phase == "broadcast":
        return dict(base, mode="broadcast", members=conf["members"], rates=conf["bcast_rates"],
                    step_s=conf["bcast_step_s"], room="bench")
    raise ValueError(f"unknown phase {phase!r}")


def phases_for(peer: str, srv: Server, tokens: list[str], workdir: Path, conf: dict, rnd: int) -> dict:
    """Every phase of PHASES in turn on one running server: {phase: result}."""
    labels = {"connect": "connect storm", "echo_small": f"echo {conf['echo_small']} clients x 1/s",
              "echo_large": f"echo {conf['echo_large']} clients x 1/s", "saturate": "saturation",
              "broadcast": f"broadcast to {conf['members']}"}
    out = {}
    for phase in PHASES:
        log(f"  [{peer} r{rnd}] {labels[phase]}")
        out[phase] = run_gen(srv, srv.port, phase_config(phase, peer, conf), tokens, workdir)
    return out


def idle_phase(peer: str, workdir: Path, secret: str, tokens: list[str], conf: dict, rnd: int,
               srv: Server | None = None) -> dict:
    """Hold conf['idle'] sockets on a fresh server (or on `srv`, for the smoke run)."""
    log(f"  [{peer} r{rnd}] idle {conf['idle']} sockets")
    if srv is None:
        with Server(peer, workdir, secret) as fresh:
            # warm the server up (imports, first connects), then take the baseline
            run_gen(fresh, fresh.port, dict(mode="connect", concurrency=5, warmup_s=0, duration_s=1,
                                            deflate=conf["deflate"]), tokens, workdir)
            time.sleep(1)
            return idle_phase(peer, workdir, secret, tokens, conf, rnd, fresh)
    settle = 0.3 if conf["smoke"] else 2
    base = srv.rss()
    held = {}

    def on_ready(_):
        # memory once the sockets have settled, then the CPU they cost while nothing happens
        time.sleep(settle)
        held["rss"] = srv.rss()
        held["cpu0"] = srv.cpu()
        time.sleep(settle)
        held["cpu_idle"] = (srv.cpu() - held["cpu0"]) / settle * 100

    res = run_gen(srv, srv.port, dict(mode="idle", clients=conf["idle"], connect_concurrency=100,
                                      hold_s=60, connect_deadline_s=180, deflate=conf["deflate"]),
                  tokens, workdir, on_ready=on_ready)
    res["rss_base"] = base
    res["rss_held"] = held.get("rss")
    if held.get("rss") and res.get("connected"):
        res["rss_per_socket_kib"] = (held["rss"] - base) / res["connected"] / 1024
        res["server_cpu_idle"] = held["cpu_idle"]
    return res


def generator_proof(workdir: Path, secret: str, tokens: list[str], conf: dict) -> dict:
    """Drive the Node peer at 3x the rates used and record the generator's CPU."""
    rates = dict(
        connect=env_float("BENCH_PROOF_CONNECT_RATE", 3 * 400),
        echo_clients=conf["echo_large"], echo_rate=3,
        saturate=env_float("BENCH_PROOF_EVENT_RATE", 3 * 3000),
        bcast=max(conf["bcast_rates"]) * 3,
    )
    out = {"rates": rates}
    with Server("node", workdir, secret) as srv:
        log("  proof: connects open loop", rates["connect"], "/s")
        out["connect"] = run_gen(srv, srv.port, dict(mode="connect", rate=rates["connect"], warmup_s=1,
                                                     duration_s=5, deflate=conf["deflate"]), tokens, workdir)
        log("  proof: echo", rates["echo_clients"], "clients x 3/s")
        out["echo"] = run_gen(srv, srv.port, dict(mode="echo", clients=rates["echo_clients"], rate_per_client=3,
                                                  warmup_s=2, duration_s=6, deflate=conf["deflate"]), tokens, workdir)
        per_client = rates["saturate"] / 1000
        log("  proof: acked events open loop", rates["saturate"], "/s")
        out["saturate"] = run_gen(srv, srv.port, dict(mode="echo", clients=1000, rate_per_client=per_client,
                                                      warmup_s=2, duration_s=6, deflate=conf["deflate"]),
                                  tokens, workdir)
        log("  proof: broadcast", rates["bcast"], "msg/s to", conf["members"])
        out["broadcast"] = run_gen(srv, srv.port, dict(mode="broadcast", members=conf["members"],
                                                       rates=[rates["bcast"]], step_s=5, deflate=conf["deflate"]),
                                   tokens, workdir)
    return out
