"""Scale-out side by side: room-scoped pub/sub against python-socketio's broadcast RedisManager.

    .venv/bin/python -m bench.scale                 # full run, writes docs/benchmarks-scale.md
    BENCH_SCALE_ROUNDS=1 BENCH_SCALE_SECONDS=5 .venv/bin/python -m bench.scale --out /tmp/s.md

Workload (`rooms` mode of bench/loadgen): 400 rooms of 2-5 members, each room placed whole on one
of 4 processes; one member of every room sends `message` to it, 2,000 messages a second in all
(open loop); every member's delivery latency is measured from the send. A fifth process holds
no member of any room (the bystander): what it spends is what the other processes' traffic
costs a process that has nothing to deliver.

Setups, each on fresh processes: `single` (one process holds every room, no Redis: the cost of a
delivery without scale-out), `broadcast` (python-socketio's RedisManager: every process reads
every message), `rooms` (the package's RoomChannelManager on one Redis 7, sharded pub/sub) and
`rooms-cluster` (the same on a Redis Cluster of 3 masters and 3 replicas). The peer is the bare
Flask-SocketIO app (bench/peers/flask_min) with the client manager as the only difference, so the
figures are the pub/sub's own cost. 7,000 deliveries a second is more than one core carries for
a bare Flask-SocketIO process here, so servers, Redis and the generator share both cores
(BENCH_SCALE_CPUS, default "0,1"); CPU is measured per process, from the kernel's accounting.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

from bench import config
from bench.config import BENCH, LOADGEN, ROOT, env_float, env_int, log, pinned, raise_nofile
from bench.facts import git_rev
from bench.servers import Server
from bench.templating import render

SETUPS = ("single", "broadcast", "rooms", "rooms-cluster")


def conf_from_env() -> dict:
    return dict(
        rounds=env_int("BENCH_SCALE_ROUNDS", 3),
        processes=env_int("BENCH_SCALE_PROCESSES", 4),
        rooms=env_int("BENCH_SCALE_ROOMS", 400),
        rate=env_float("BENCH_SCALE_RATE", 2000),
        seconds=env_float("BENCH_SCALE_SECONDS", 10),
        warmup_s=env_float("BENCH_SCALE_WARMUP_SECONDS", 2),
        setups=os.environ.get("BENCH_SCALE_SETUPS", ",".join(SETUPS)).split(","),
    )


class Peer(Server):
    """The bare Flask-SocketIO peer with a chosen client manager."""

    def __init__(self, workdir: Path, secret: str, extra: dict[str, str]) -> None:
        super().__init__("flask-min", workdir, secret)
        self.extra = extra

    def env(self) -> dict:
        env = {**super().env(), **self.extra}
        env.pop("BENCH_LAG_FILE", None)  # no lag probe: its wake-ups would count five times here
        return env


def pin(pid: int) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", config.SERVER_CPU, str(pid)], check=True, capture_output=True)


def start_redis(workdir: Path, cluster: bool):
    """A redis-server (or a Redis Cluster) pinned to the servers' CPU; returns (service, url, pids)."""
    from tests.support.services import RedisCluster, RedisServer

    workdir.mkdir(parents=True, exist_ok=True)
    if cluster:
        rc = RedisCluster(workdir).start()
        pids = [n.proc.pid for n in rc.nodes]
        service, url = rc, rc.url
    else:
        rs = RedisServer(workdir).start()
        pids, service, url = [rs.proc.pid], rs, rs.url
    for pid in pids:
        pin(pid)
    return service, url, pids


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_setup(setup: str, conf: dict, workdir: Path, secret: str, rnd: int) -> dict:
    """Start the processes of one setup, drive the workload once, stop everything."""
    redis_service, url, redis_pids = (None, None, [])
    if setup != "single":
        redis_service, url, redis_pids = start_redis(workdir / f"redis-{setup}-{rnd}", setup.endswith("cluster"))
    busy_n = 1 if setup == "single" else conf["processes"]
    extra = {} if url is None else {"BENCH_MESSAGE_QUEUE": url,
                                    "BENCH_MANAGER": "broadcast" if setup == "broadcast" else "rooms"}
    servers: list[Peer] = []
    try:
        for _ in range(busy_n + (0 if setup == "single" else 1)):  # the last one is the bystander
            srv = Peer(workdir, secret, extra)
            srv.start()
            servers.append(srv)
        busy, bystander = servers[:busy_n], (servers[busy_n] if len(servers) > busy_n else None)
        cfg = {"mode": "rooms", "ports": [s.port for s in busy], "idle_ports": [bystander.port] if bystander else [],
               "rooms": conf["rooms"], "sizes": [2, 3, 4, 5],
               "rate_total": conf["rate"], "duration_s": conf["seconds"], "warmup_s": conf["warmup_s"],
               "room_prefix": f"s{rnd}{uuid.uuid4().hex[:4]}-", "tokens": ["-"], "port": busy[0].port}
        marks: dict[str, tuple] = {}

        def sample() -> tuple:
            return (time.monotonic(), [s.cpu() for s in servers], cpu_of(redis_pids))

        result = generator(cfg, workdir, lambda name: marks.__setitem__(name, sample()))
        if "start" in marks and "end" in marks:
            (t0, c0, r0), (t1, c1, r1) = marks["start"], marks["end"]
            wall = max(t1 - t0, 1e-6)
            per = [(b - a) / wall * 100 for a, b in zip(c0, c1, strict=True)]
            result["cpu_busy"] = per[:busy_n]
            result["cpu_bystander"] = per[busy_n] if bystander else None
            result["cpu_redis"] = (r1 - r0) / wall * 100
            cpu_s = sum(b - a for a, b in zip(c0, c1, strict=True))
            delivered = max(result.get("delivered", 0), 1)
            result["us_per_delivery"] = cpu_s / delivered * 1e6
            result["us_per_delivery_with_redis"] = (cpu_s + r1 - r0) / delivered * 1e6
        return result
    finally:
        for srv in servers:
            srv.stop()
        if redis_service is not None:
            redis_service.stop()


def bystander_cost(manager: str, conf: dict, workdir: Path, secret: str) -> dict:
    """One process holding one idle socket and no room; other processes' traffic published straight
    into Redis at the workload's rate (2,000 messages a second to 400 rooms it does not hold, in
    python-socketio's queue format). Its CPU is what that traffic costs a process with nothing to deliver."""
    service, url, redis_pids = start_redis(workdir / f"redis-bystander-{manager}-{uuid.uuid4().hex[:6]}", False)
    srv = Peer(workdir, secret, {"BENCH_MESSAGE_QUEUE": url, "BENCH_MANAGER": manager})
    try:
        srv.start()
        import socketio as python_socketio

        idle = python_socketio.Client()
        idle.connect(f"http://127.0.0.1:{srv.port}", transports=["websocket"])
        client = service.client()
        n, rate = int(conf["rate"] * 5), conf["rate"]
        body = {"method": "emit", "event": "message", "binary": False, "namespace": "/", "skip_sid": None,
                "callback": None, "host_id": "elsewhere000"}
        c0, t0 = srv.cpu(), time.monotonic()
        for i in range(n):
            room = f"r{i % conf['rooms']}"
            message = json.dumps({**body, "room": room,
                                  "data": [{"id": i, "room": room, "user": "u", "text": "T-1", "ts": 0.0}]})
            if manager == "broadcast":
                client.publish("bench", message)
            else:
                client.execute_command("SPUBLISH", f"bench#r#/#{room}", message)
            ahead = (i + 1) / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
        time.sleep(0.5)  # let the last ones be read
        wall = time.monotonic() - t0
        idle.disconnect()
        used = srv.cpu() - c0
        return {"messages": n, "cpu_pct": used / wall * 100, "us_per_message": used / n * 1e6}
    finally:
        srv.stop()
        service.stop()


def generator(cfg: dict, workdir: Path, on_mark) -> dict:
    """Run the Node load generator once; `on_mark(name)` at each #MARK line."""
    path = workdir / f"gen-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.Popen(pinned(config.GEN_CPU, ["node", str(LOADGEN), str(path)]), cwd=ROOT,
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True, start_new_session=True)
    timer = threading.Timer(300, proc.kill)
    timer.start()
    result: dict = {"error": "no result"}
    try:
        for line in proc.stdout:
            if line.startswith("#MARK "):
                on_mark(line.split()[1])
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
            elif line.startswith("#"):
                log("   ", line[2:].rstrip())
    finally:
        timer.cancel()
        proc.wait(30)
        path.unlink(missing_ok=True)
    return result


def med(rs: list[dict], key: str, sub: str | None = None) -> float | None:
    vals = []
    for r in rs:
        v = r.get(key)
        if sub is not None:
            v = v.get(sub) if isinstance(v, dict) else None
        if isinstance(v, list):
            v = statistics.mean(v) if v else None
        if isinstance(v, (int, float)):
            vals.append(float(v))
    return statistics.median(vals) if vals else None


def ratio(num: list[dict], den: list[dict], key: str, sub: str | None = None) -> float | None:
    vals = [a / b for x, y in zip(num, den, strict=False)
            if (a := med([x], key, sub)) is not None and (b := med([y], key, sub))]
    return statistics.median(vals) if vals else None


def fmt(v, spec=".1f", unit="") -> str:
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def report(data: dict) -> str:
    """The markdown report (docs/benchmarks-scale.md), from bench/templates/scale.md.j2."""
    conf, res = data["conf"], data["results"]
    rows = []
    for setup in conf["setups"]:
        r = res.get(setup, [])
        rows.append({"setup": setup, "deliveries": fmt(med(r, "deliveries_per_s"), ".0f"),
                     "missing": fmt(med(r, "missing"), ".0f"),
                     "p50": fmt(med(r, "delivery_ms", "p50"), ".2f", " ms"),
                     "p99": fmt(med(r, "delivery_ms", "p99"), ".2f", " ms"),
                     "cpu_busy": fmt(med(r, "cpu_busy"), ".1f", "%"),
                     "cpu_bystander": fmt(med(r, "cpu_bystander"), ".1f", "%"),
                     "cpu_redis": fmt(med(r, "cpu_redis"), ".1f", "%"),
                     "us_per_delivery": fmt(med(r, "us_per_delivery"), ".1f"),
                     "us_with_redis": fmt(med(r, "us_per_delivery_with_redis"), ".1f")})

    def ratio_text(v: float | None) -> str | None:
        return fmt(v, ".2f", "x") if v is not None else None

    # Each room-scoped setup against the broadcast manager and against one process without Redis.
    goals = []
    for rooms in ("rooms", "rooms-cluster"):
        if rooms not in res or ("broadcast" not in res and "single" not in res):
            continue
        goal = {"setup": rooms, "against_broadcast": "broadcast" in res, "against_single": "single" in res}
        if "broadcast" in res:
            by_b, by_r = med(res["broadcast"], "cpu_bystander"), med(res[rooms], "cpu_bystander")
            p99 = ratio(res[rooms], res["broadcast"], "delivery_ms", "p99")
            goal.update(bystander_cpu=fmt(by_r, ".2f", "%"), broadcast_bystander_cpu=fmt(by_b, ".2f", "%"),
                        bystander_ratio=ratio_text(None if not by_r else by_b / by_r),
                        bystander_ok=by_b is not None and by_r is not None and by_b >= 3 * by_r,
                        p99_ratio=ratio_text(p99), p99_ok=p99 is not None and p99 <= 1.0)
        if "single" in res:
            per = ratio(res[rooms], res["single"], "us_per_delivery")
            goal.update(cpu_ratio=ratio_text(per), cpu_ok=per is not None and per <= 1.2,
                        cpu_redis_ratio=ratio_text(ratio(res[rooms], res["single"], "us_per_delivery_with_redis")))
        goals.append(goal)
    bystander = None
    by = data.get("bystander") or {}
    if by.get("broadcast") and by.get("rooms"):
        b_cpu, r_cpu = med(by["broadcast"], "cpu_pct"), med(by["rooms"], "cpu_pct")
        bystander = {"broadcast_cpu": fmt(b_cpu, ".2f", "%"),
                     "broadcast_us": fmt(med(by["broadcast"], "us_per_message")),
                     "rooms_cpu": fmt(r_cpu, ".2f", "%"), "rooms_us": fmt(med(by["rooms"], "us_per_message")),
                     "ratio": ratio_text((b_cpu / r_cpu) if r_cpu else None),
                     "ok": b_cpu is not None and r_cpu is not None and b_cpu >= 3 * r_cpu}
    return render("scale.md.j2", {"date": data["date"], "git": data["git"], "conf": conf,
                                  "cpus": data.get("cpus", "0,1"), "rows": rows, "goals": goals,
                                  "bystander": bystander})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-scale.md"))
    ap.add_argument("--json", default=str(BENCH / "results" / "scale.json"))
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    if args.report_only:
        Path(args.out).write_text(report(json.loads(Path(args.json).read_text())))
        return 0
    raise_nofile()
    # Set on bench.config, where Server and the generator read them when they start a process.
    config.SERVER_CPU = config.GEN_CPU = os.environ.get("BENCH_SCALE_CPUS", "0,1")
    conf = conf_from_env()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    data = {"conf": conf, "cpus": config.SERVER_CPU, "git": git_rev(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "results": {s: [] for s in conf["setups"]}, "bystander": {"broadcast": [], "rooms": []}}
    try:
        for rnd in range(1, conf["rounds"] + 1):
            for setup in conf["setups"]:
                (workdir / f"redis-{setup}-{rnd}").mkdir()
                log(f"round {rnd}/{conf['rounds']}: {setup}")
                r = run_setup(setup, conf, workdir, secrets.token_urlsafe(16), rnd)
                log(f"  {setup}: {r.get('deliveries_per_s', 0):.0f} deliveries/s, missing {r.get('missing')}, "
                      f"p99 {r.get('delivery_ms', {}).get('p99')}, bystander {r.get('cpu_bystander')}")
                data["results"][setup].append(r)
            for manager in ("broadcast", "rooms"):
                log(f"round {rnd}/{conf['rounds']}: bystander under {manager}")
                data["bystander"][manager].append(bystander_cost(manager, conf, workdir, "-"))
    finally:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(data, indent=1))
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).write_text(report(data))
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
