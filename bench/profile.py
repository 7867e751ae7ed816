"""Profile one peer under one benchmark phase with py-spy (where does the time go?).

    .venv/bin/python -m bench.profile --peer app-audit-on --phase saturate
    .venv/bin/python -m bench.profile --peer flask-min --phase connect --top 30

Starts the peer pinned to CPU 0 as in the benchmark, attaches `py-spy record`
(pinned to CPU 1, with the generator) to the gunicorn worker for the phase's
measurement window, and prints the heaviest frames by self time and by
inclusive time, grouped by function and by package. The collapsed stacks are kept in
bench/results/profile-<peer>-<phase>.txt (open with any flamegraph tool).
"""

from __future__ import annotations

import argparse
import collections
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import config
from bench.config import BENCH, PY, ROOT, make_conf, raise_nofile
from bench.generator import phase_config, run_gen
from bench.servers import PEER_INFO, Server, mint_tokens, setup_app

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:]*)(?::(?P<line>\d+))?\)$")


def package_of(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if path.startswith(str(ROOT)):
        rel = Path(path).relative_to(ROOT)
        return "app:" + (rel.parts[0] if len(rel.parts) > 1 else rel.name)
    if "/lib/python3" in path:
        return "stdlib:" + Path(path).stem
    return path or "?"


def summarize(collapsed: Path, top: int) -> str:
    self_t = collections.Counter()
    incl = collections.Counter()
    pkg_self = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():  # py-spy can cut the last line of a stopped recording
            continue
        n = int(n)
        total += n
        frames = stack.split(";")
        leaf = frames[-1]
        self_t[leaf] += n
        m = FRAME.match(leaf)
        pkg_self[package_of(m.group("file") if m else "")] += n
        seen = set()
        for f in frames:
            m = FRAME.match(f)
            key = f"{m.group('func')} ({m.group('file')})" if m else f
            if key not in seen:
                seen.add(key)
                incl[key] += n
    out = [f"samples: {total}", "", "self time by package:"]
    out += [f"  {n / total * 100:5.1f}%  {k}" for k, n in pkg_self.most_common(top)]
    out += ["", "self time by frame:"]
    out += [f"  {n / total * 100:5.1f}%  {k}" for k, n in self_t.most_common(top)]
    out += ["", "inclusive time by function:"]
    out += [f"  {n / total * 100:5.1f}%  {k}" for k, n in incl.most_common(top * 2)]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", default="app-audit-on", choices=[p for p in PEER_INFO if p != "node"])
    ap.add_argument("--phase", default="saturate",
                    choices=["connect", "echo_large", "saturate", "broadcast", "idle", "chat"])
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--idle", action="store_true", help="include off-CPU (waiting) samples: finds blocking calls")
    args = ap.parse_args(argv)
    raise_nofile()
    conf = make_conf(False)
    conf.update(rounds=1, warmup_s=1, connect_s=args.seconds, echo_s=args.seconds, sat_s=args.seconds,
                bcast_step_s=args.seconds / len(conf["bcast_rates"]), idle=min(conf["idle"], 5000))
    workdir = Path(tempfile.mkdtemp(prefix="bench-prof-"))
    secret = secrets.token_urlsafe(48)
    out = BENCH / "results" / f"profile-{args.peer}-{args.phase}{'-idle' if args.idle else ''}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    pyspy = shutil.which("py-spy") or str(PY.parent / "py-spy")
    try:
        if args.peer.startswith("app-"):
            ids = setup_app(args.peer, workdir, secret, conf)
        else:
            ids = [str(i) for i in range(1, 11)]
        tokens = mint_tokens(secret, ids, conf["tokens"])
        with Server(args.peer, workdir, secret) as srv:
            pid = srv.measured.pid
            idle = ["--idle", "--threads"] if args.idle else []
            rec = subprocess.Popen(["taskset", "-c", config.GEN_CPU, pyspy, "record", "--pid", str(pid),
                                    "--rate", "250", "--format", "raw", "--nonblocking", "-o", str(out), *idle,
                                    "--duration", str(int(args.seconds + 4))],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(1)
            if args.phase == "idle":
                cfg = dict(mode="idle", clients=conf["idle"], hold_s=2)
            elif args.phase == "chat":
                from bench.chat import chat_config, conf_from_env

                cfg = chat_config(conf_from_env(), lone=False, rnd=1)
            else:
                cfg = phase_config(args.phase, args.peer, conf)
            res = run_gen(srv, srv.port, cfg, tokens, workdir)
            rec.wait(timeout=args.seconds + 60)
            err = rec.stderr.read()
            gc_lines = [x for x in srv.log_file.read_text(errors="replace").splitlines() if x.startswith("BENCH_GC")]
            if gc_lines:
                print("slow collections (BENCH_GC=trace):", len(gc_lines))
                print("\n".join(gc_lines[:60]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    brief = {k: res.get(k) for k in ("rate", "achieved_rate", "server_cpu", "server_core_others", "gen_cpu",
                                     "lag_max_ms", "latency_ms", "connect_ms", "error") if res.get(k) is not None}
    print(f"phase result: {brief}")
    if not out.exists() or not out.stat().st_size:
        print("py-spy wrote nothing:", err[-2000:], file=sys.stderr)
        return 1
    text = summarize(out, args.top)
    out.with_suffix(".summary.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
