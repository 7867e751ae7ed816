"""The chat path side by side: durable room messages against peers that store nothing.

    .venv/bin/python -m bench.chat                     # full run, writes docs/benchmarks-chat.md
    BENCH_CHAT_ROUNDS=1 BENCH_CHAT_SECONDS=4 .venv/bin/python -m bench.chat --out /tmp/c.md
    BENCH_CHAT_PEERS=app-audit-on,app-audit-on@/tmp/old .venv/bin/python -m bench.chat   # A/B

Workload (`chat` mode of bench/loadgen): 60 clients in rooms of 3, each sending its next
`message` to its room as soon as the last one is acked, for 10 s; every member receives every
message of its room. Then one lone client sending a message 20 ms after each ack (a lightly
loaded server: what one message costs in latency). The app stores every message (and its
audit row) before the ack; bare Flask-SocketIO and Node store nothing.

Peers: `kind[@checkout][+pg]`. The app runs on SQLite in the workdir, or with `+pg` on a
PostgreSQL started for the run (one database per peer). Each server runs pinned to CPU 0, as
does PostgreSQL (its work is the server's work); the generator runs on CPU 1. Rounds
interleave the peers; every ratio compares figures of the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import config
from bench.config import BENCH, ROOT, env_float, env_int, log, raise_nofile
from bench.facts import git_rev
from bench.generator import run_gen
from bench.servers import Server, mint_tokens, root_of, runtime, setup_app
from bench.templating import render

DEFAULT_PEERS = ("flask-min,flask-min-gevent,node,app-audit-on,app-gevent,app-audit-on+pg,app-gevent+pg")
# The bare Flask-SocketIO peer each app peer is compared with: the same runtime.
BARE = {"eventlet": "flask-min", "gevent": "flask-min-gevent"}


def conf_from_env() -> dict:
    """Sizes and durations (BENCH_CHAT_* variables)."""
    return dict(
        rounds=env_int("BENCH_CHAT_ROUNDS", 3),
        clients=env_int("BENCH_CHAT_CLIENTS", 60),
        room_size=env_int("BENCH_CHAT_ROOM_SIZE", 3),
        seconds=env_float("BENCH_CHAT_SECONDS", 10),
        lone_gap_ms=env_int("BENCH_CHAT_LONE_GAP_MS", 20),
        lone_seconds=env_float("BENCH_CHAT_LONE_SECONDS", 5),
        warmup_s=env_float("BENCH_CHAT_WARMUP_SECONDS", 2),
        users=env_int("BENCH_USERS", 20),
        peers=os.environ.get("BENCH_CHAT_PEERS", DEFAULT_PEERS).split(","),
    )


def split(spec: str) -> tuple[str, bool]:
    """`app-gevent@/tmp/old+pg` -> (`app-gevent@/tmp/old`, True)."""
    peer, plus, db = spec.partition("+")
    if plus and db != "pg":
        raise SystemExit(f"unknown storage {db!r} in {spec!r} (only +pg)")
    return peer, bool(plus)


def rev_of(peer: str) -> str:
    """The short commit of the checkout a peer runs from."""
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root_of(peer), capture_output=True, text=True)
    return r.stdout.strip() or "?"


def chat_config(conf: dict, lone: bool, rnd: int) -> dict:
    """The generator's config for the loaded run or the lone sender."""
    base = dict(mode="chat", warmup_s=conf["warmup_s"], room_prefix=f"r{rnd}{'l' if lone else 'c'}")
    if lone:
        return dict(base, clients=1, room_size=1, gap_ms=conf["lone_gap_ms"], duration_s=conf["lone_seconds"])
    return dict(base, clients=conf["clients"], room_size=conf["room_size"], duration_s=conf["seconds"])


def start_postgres(workdir: Path):
    """One PostgreSQL for the run, pinned to the server's CPU."""
    from tests.support.services import Postgres

    pg = Postgres().start()
    pid = int((pg.data / "postmaster.pid").read_text().split()[0])
    subprocess.run(["taskset", "-a", "-p", "-c", config.SERVER_CPU, str(pid)], check=True, capture_output=True)
    return pg


def measure(spec: str, conf: dict, workdir: Path, secret: str, tokens: list[str], db_url: str | None,
            rnd: int) -> dict:
    """One round of one peer: the loaded run, then the lone sender, on one fresh server."""
    peer, _ = split(spec)
    out = {}
    with Server(peer, workdir, secret, db_url) as srv:
        for name, lone in (("chat", False), ("lone", True)):
            log(f"  [{spec} r{rnd}] {name}")
            before = batching(srv, peer)
            out[name] = run_gen(srv, srv.port, chat_config(conf, lone, rnd), tokens, workdir)
            after = batching(srv, peer)
            if before and after and after[1] > before[1]:  # messages per transaction (warm-up included)
                out[name]["per_commit"] = (after[0] - before[0]) / (after[1] - before[1])
            if "error" in out[name]:
                log(f"  [{spec} r{rnd}] {name} failed: {out[name]['error']}")
    return out


def batching(srv: Server, peer: str) -> tuple[float, float] | None:
    """(messages committed, transactions) from the app's /metrics; None for the other peers."""
    if not peer.startswith("app-"):
        return None
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = dict(re.findall(r"^(realtime_messages_committed_total|realtime_message_batches_total) (\S+)$", text, re.M))
    if len(found) != 2:  # an older checkout (bench.ab): no group commit
        return None
    return float(found["realtime_messages_committed_total"]), float(found["realtime_message_batches_total"])


def med(results: list[dict], phase: str, path: tuple[str, ...]) -> float | None:
    vals = []
    for r in results:
        v = r.get(phase, {})
        for key in path:
            v = v.get(key) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            vals.append(float(v))
    return statistics.median(vals) if vals else None


def ratio_med(num: list[dict], den: list[dict], phase: str, path: tuple[str, ...]) -> float | None:
    """Median over rounds of the per-round ratio (figures of the same round only)."""
    vals = []
    for a, b in zip(num, den, strict=False):
        x, y = med([a], phase, path), med([b], phase, path)
        if x is not None and y:
            vals.append(x / y)
    return statistics.median(vals) if vals else None


def fmt(v, spec=".0f", unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def report(data: dict) -> str:
    """The markdown report (docs/benchmarks-chat.md), from bench/templates/chat.md.j2."""
    conf, res = data["conf"], data["results"]
    labels = data.get("labels", {})
    rows = []
    for spec in conf["peers"]:
        r = res[spec]
        rows.append({"peer": labels.get(spec, spec),
                     "rate": fmt(med(r, "chat", ("rate",))),
                     "p50": fmt(med(r, "chat", ("latency_ms", "p50")), ".1f", " ms"),
                     "p99": fmt(med(r, "chat", ("latency_ms", "p99")), ".1f", " ms"),
                     "deliveries": fmt(med(r, "chat", ("deliveries_per_s",))),
                     "server_cpu": fmt(med(r, "chat", ("server_cpu",)), ".0f", "%"),
                     "per_commit": fmt(med(r, "chat", ("per_commit",)), ".1f"),
                     "lone_p50": fmt(med(r, "lone", ("latency_ms", "p50")), ".2f", " ms"),
                     "lone_p99": fmt(med(r, "lone", ("latency_ms", "p99")), ".2f", " ms")})
    ratios = []
    for spec in conf["peers"]:
        peer, pg = split(spec)
        bare = BARE.get(runtime(peer))
        if not peer.startswith("app-") or bare not in res:
            continue
        rate = ratio_med(res[spec], res[bare], "chat", ("rate",))
        p99 = ratio_med(res[spec], res[bare], "chat", ("latency_ms", "p99"))
        ratios.append({"app": labels.get(spec, spec), "bare": bare, "rate": fmt(rate, ".2f", "x"),
                       "p99": fmt(p99, ".2f", "x"),
                       "ok": rate is not None and rate >= 1.0 and p99 is not None and p99 <= 1.0})
    failures = [{"peer": labels.get(spec, spec), "round": i + 1, "phase": phase,
                 "error": r[phase].get("error") or "", "failed": r[phase].get("failed"),
                 "dropped": r[phase].get("dropped"), "join_failed": r[phase].get("join_failed")}
                for spec in conf["peers"] for i, r in enumerate(res[spec]) for phase in ("chat", "lone")
                if r.get(phase, {}).get("error") or r.get(phase, {}).get("failed") or r.get(phase, {}).get("dropped")
                or r.get(phase, {}).get("join_failed")]
    return render("chat.md.j2", {"date": data["date"], "git": data["git"], "command": data["command"], "conf": conf,
                                 "rows": rows, "ratios": ratios, "failures": failures})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-chat.md"))
    ap.add_argument("--json", default=str(BENCH / "results" / "chat.json"))
    ap.add_argument("--report-only", action="store_true", help="re-render the report from --json")
    args = ap.parse_args(argv)
    if args.report_only:
        Path(args.out).write_text(report(json.loads(Path(args.json).read_text())))
        return 0
    raise_nofile()
    conf = conf_from_env()
    workdir = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    secret = secrets.token_urlsafe(48)
    pg = None
    # A peer from another checkout (`kind@/path`) is named by that checkout's commit.
    labels = {spec: f"{split(spec)[0].partition('@')[0]} at {rev_of(split(spec)[0])}{' +pg' * split(spec)[1]}"
              for spec in conf["peers"] if "@" in spec}
    data = {"conf": conf, "labels": labels, "command": "make bench (bench/chat.py)", "git": git_rev(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": {s: [] for s in conf["peers"]}}
    try:
        tokens, urls = {}, {}
        for spec in conf["peers"]:
            peer, on_pg = split(spec)
            if on_pg and pg is None:
                pg = start_postgres(workdir)
            urls[spec] = pg.create_db(f"chat_{len(urls)}") if on_pg else None
            if peer.startswith("app-"):
                log(f"setting up {spec}")
                tokens[spec] = mint_tokens(secret, setup_app(peer, workdir, secret, conf, urls[spec]), 200)
            else:
                tokens[spec] = mint_tokens(secret, [str(i) for i in range(1, 21)], 200)
        for rnd in range(1, conf["rounds"] + 1):
            for spec in conf["peers"]:
                log(f"round {rnd}/{conf['rounds']}: {spec}")
                data["results"][spec].append(measure(spec, conf, workdir, secret, tokens[spec], urls[spec], rnd))
    finally:
        if pg is not None:
            pg.stop()
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(data, indent=1))
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).write_text(report(data))
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
