"""Quick A/B of one phase between peers, interleaved (a development aid; `make bench` is the record).

    .venv/bin/python -m bench.ab --phase connect --peers flask-min,app-audit-on --rounds 3
    .venv/bin/python -m bench.ab --phase connect --peers app-audit-on,app-audit-on@/tmp/old  # against a worktree
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
from pathlib import Path

from bench.config import make_conf, raise_nofile
from bench.generator import idle_phase, phase_config, run_gen
from bench.servers import Server, mint_tokens, setup_app
from bench.summary import target_step


def headline(phase: str, res: dict) -> float | None:
    """The one figure of a phase: connects/s, ack p99, acked events/s, broadcast delivery p99 or KiB per idle socket."""
    if phase == "connect":
        return res.get("rate")
    if phase == "idle":
        return res.get("rss_per_socket_kib")
    if phase == "broadcast" and res.get("steps"):
        return target_step({"broadcast": res})["delivery_ms"]["p99"]
    if phase.startswith("echo"):
        return (res.get("latency_ms") or {}).get("p99")
    return res.get("achieved_rate") or res.get("rate")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase", default="connect")
    ap.add_argument("--peers", default="flask-min,app-audit-on")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    raise_nofile()
    conf = make_conf(False)
    peers = args.peers.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    secret = secrets.token_urlsafe(48)
    got: dict[str, list] = {p: [] for p in peers}
    try:
        ids = {}
        for p in peers:
            ids[p] = setup_app(p, workdir, secret, conf) if p.startswith("app-") else [str(i) for i in range(1, 11)]
        for rnd in range(args.rounds):
            for p in peers:
                tokens = mint_tokens(secret, ids[p], conf["tokens"])
                if args.phase == "idle":  # on a fresh, warmed-up server, as the benchmark does
                    res = idle_phase(p, workdir, secret, tokens, conf, rnd)
                else:
                    with Server(p, workdir, secret) as srv:
                        res = run_gen(srv, srv.port, phase_config(args.phase, p, conf), tokens, workdir)
                lat = res.get("latency_ms") or res.get("connect_ms") or {}
                print(f"r{rnd} {p:15s} {args.phase}: {headline(args.phase, res)}  p50={lat.get('p50')} "
                      f"p99={lat.get('p99')} lag_max={res.get('lag_max_ms')} cpu={res.get('server_cpu')}", flush=True)
                got[p].append(headline(args.phase, res))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for p, v in got.items():
        v = [x for x in v if x is not None]
        if v:
            print(f"{p:15s} median {statistics.median(v):.2f} (min {min(v):.2f} max {max(v):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
