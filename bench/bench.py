"""Benchmark orchestrator: peers side by side, 3 rounds, ratios, report.

    .venv/bin/python -m bench.bench            # full run (bench/run.sh)
    .venv/bin/python -m bench.bench --smoke    # a few clients, a few seconds

Every server runs pinned to CPU 0 (`taskset -c 0`), the load generator
(bench/loadgen/loadgen.js, raw WebSockets) pinned to CPU 1. Rounds interleave
the peers so that machine noise hits all of them alike; every figure of the
app is reported as a ratio against a peer measured in the same round.
Sizes and durations come from BENCH_* environment variables (bench/config.py, make_conf).

The work is split by job: bench.config (settings), bench.servers (the peers), bench.generator
(the load generator and the phases), bench.summary (figures, ratios, targets), bench.facts (the
machine and versions), bench.report and bench/templates (the report), bench.chart (its chart).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.config import BENCH, GEVENT_BIN, ROOT, log, make_conf, raise_nofile
from bench.facts import git_rev, machine, versions
from bench.generator import generator_proof, idle_phase, phases_for
from bench.report import render_table, write_report
from bench.servers import Server, app_available, mint_tokens, setup_app
from bench.summary import summarize


def parse_args(argv=None) -> argparse.Namespace:
    """The command line: a full or smoke run, or a report re-rendered from saved results."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="a few clients, a few seconds")
    ap.add_argument("--out", default=None, help="markdown report path (default docs/benchmarks.md)")
    ap.add_argument("--json", default=None, help="raw results path")
    ap.add_argument("--report-only", default=None, help="re-render the report from a results JSON")
    ap.add_argument("--proof-into", default=None,
                    help="re-run only the generator proof, store it into this results JSON and re-render")
    return ap.parse_args(argv)


def redo_proof(path: Path, out_md: Path, out_png: Path) -> None:
    """Run the generator proof again into the results JSON at `path`, then re-render the report."""
    data = json.loads(path.read_text())
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    secret = secrets.token_urlsafe(48)
    try:
        toks = mint_tokens(secret, [str(i) for i in range(1, 21)], data["conf"]["tokens"])
        data["proof"] = generator_proof(workdir, secret, toks, data["conf"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    path.write_text(json.dumps(data, indent=1))
    write_report(data, out_md, out_png)


def check_tools(conf: dict) -> None:
    """Drop the app's peers from a tree without the app; fail early on a missing tool; install the Node parts."""
    if not app_available():
        dropped = [p for p in conf["peers"] if p.startswith("app-")]
        if dropped:
            log("the app (app.py, wsgi.py) is not in this tree: skipping", ", ".join(dropped))
        conf["peers"] = [p for p in conf["peers"] if not p.startswith("app-")]
        # a smoke run still compares two peers
        if conf["smoke"] and conf["peers"] == ["flask-min"]:
            conf["peers"].append("node")
    if "app-gevent" in conf["peers"] and not (GEVENT_BIN / "gunicorn").exists():
        raise SystemExit(f"{GEVENT_BIN / 'gunicorn'} is missing: run `make gevent-deps`")
    for tool in ("taskset", "node"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is required")
    for folder in ("peers/node", "loadgen"):
        if not (BENCH / folder / "node_modules").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=BENCH / folder, check=True)


def run_rounds(data: dict, workdir: Path, secret: str) -> None:
    """Set up the peers, prove the generator, then every round of every peer, into data["results"]."""
    conf = data["conf"]
    t_start = time.time()
    tokens = {}
    generic = [str(i) for i in range(1, conf["users"] + 1)]
    for p in conf["peers"]:
        if p.startswith("app-"):
            log(f"setting up {p}")
            tokens[p] = mint_tokens(secret, setup_app(p, workdir, secret, conf), conf["tokens"])
        else:
            tokens[p] = mint_tokens(secret, generic, conf["tokens"])
    if conf["proof"] and "node" in conf["peers"]:
        log("proving the generator against the Node peer")
        data["proof"] = generator_proof(workdir, secret, tokens["node"], conf)
    for rnd in range(1, conf["rounds"] + 1):
        for p in conf["peers"]:
            log(f"round {rnd}/{conf['rounds']}: {p} ({time.time() - t_start:.0f}s elapsed)")
            with Server(p, workdir, secret) as srv:
                res = {} if conf.get("only_idle") else phases_for(p, srv, tokens[p], workdir, conf, rnd)
                # the smoke run holds its few idle sockets on the same server; the full run on a fresh one
                if conf["smoke"]:
                    res["idle"] = idle_phase(p, workdir, secret, tokens[p], conf, rnd, srv)
            if not conf["smoke"]:
                res["idle"] = idle_phase(p, workdir, secret, tokens[p], conf, rnd)
            data["results"][p].append(res)
    data["elapsed_s"] = time.time() - t_start


def main(argv=None) -> int:
    """Run the benchmark (or re-render its report) as the command line asks."""
    args = parse_args(argv)
    default_md = BENCH / "results" / "smoke.md" if args.smoke else ROOT / "docs" / "benchmarks.md"
    out_md = Path(args.out) if args.out else default_md
    out_png = out_md.with_suffix(".png")
    out_md.parent.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        data = json.loads(Path(args.report_only).read_text())
        write_report(data, out_md, out_png)
        print(out_md.read_text())
        return 0

    nofile = raise_nofile()
    if args.proof_into:
        redo_proof(Path(args.proof_into), out_md, out_png)
        return 0
    conf = make_conf(args.smoke)
    check_tools(conf)

    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    secret = secrets.token_urlsafe(48)
    log(f"workdir {workdir}, nofile {nofile}, peers {conf['peers']}")
    data = {
        "conf": conf, "command": " ".join(["bench/run.sh"] if not args.smoke else ["bench/smoke.sh"]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "git": git_rev(),
        "env": {k: v for k, v in os.environ.items() if k.startswith("BENCH_")},
        "machine": machine(), "versions": versions(), "results": {p: [] for p in conf["peers"]},
    }
    try:
        run_rounds(data, workdir, secret)
    finally:
        # whatever was measured is kept, even when a later phase failed
        default_json = BENCH / "results" / ("smoke.json" if args.smoke else "latest.json")
        json_path = Path(args.json) if args.json else default_json
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(data, indent=1))
        shutil.rmtree(workdir, ignore_errors=True)
    write_report(data, out_md, out_png)
    measured = [p for p in conf["peers"] if data["results"][p]]
    print(render_table(summarize({p: data["results"][p] for p in measured}, conf), measured))
    log(f"done in {data['elapsed_s']:.0f}s: {out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
