"""RSS per idle socket and connect rate with the Socket.IO Admin UI off, and on with an admin watching.

    bash -c 'source bench/_common.sh && .venv/bin/python -m bench.admin_cost'
    BENCH_IDLE=5000 BENCH_ROUNDS=3 (defaults): sockets held, and rounds of the off/on pair

Same harness as `make bench` (server pinned to one core, the Node load generator on the other,
audit off); prints one line per run and the medians, for docs/admin-ui.md.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import tempfile
import threading
from pathlib import Path

import socketio

from bench.config import log, make_conf
from bench.generator import idle_phase, phase_config, run_gen
from bench.servers import Server, app_env, mint_tokens, setup_app

PEER = "app-audit-off"


def watch(url: str, token: str) -> tuple[socketio.Client, dict]:
    """An admin on the `/admin` namespace, counting what the live view sends it."""
    counts: dict[str, int] = {}
    lock = threading.Lock()
    client = socketio.Client(reconnection=False)

    def count(event: str, *_args: object) -> None:
        with lock:
            counts[event] = counts.get(event, 0) + 1

    client.on("*", count, namespace="/admin")
    client.connect(url, namespaces=["/admin"], auth={"password": token}, transports=["websocket"], wait_timeout=10)
    return client, counts


def main() -> None:
    conf = make_conf(False)
    conf["idle"] = int(os.environ.get("BENCH_IDLE", "5000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    workdir = Path(tempfile.mkdtemp(prefix="admin-mem-"))
    secret = "admin-memory-" + "s" * 40
    ids = setup_app(PEER, workdir, secret, conf)
    db = app_env(workdir, secret, audit=False)["FLASK_SQLALCHEMY_DATABASE_URI"]
    with sqlite3.connect(json.loads(db).removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE users SET is_admin = 1 WHERE id = ?", (int(ids[0]),))
    admin_token = mint_tokens(secret, ids[:1], 1)[0]
    tokens = mint_tokens(secret, ids[1:], conf["tokens"])
    results: dict[str, list[float]] = {"off": [], "on": []}
    connects: dict[str, list[float]] = {"off": [], "on": []}
    for rnd in range(rounds):
        for label in ("off", "on"):
            os.environ["FLASK_ADMIN_UI_ENABLED"] = "true" if label == "on" else "false"
            with Server(PEER, workdir, secret) as srv:
                run_gen(srv, srv.port, dict(mode="connect", concurrency=5, warmup_s=0, duration_s=1,
                                            deflate=False), tokens, workdir)
                admin = counts = None
                if label == "on":
                    admin, counts = watch(f"http://127.0.0.1:{srv.port}", admin_token)
                res = idle_phase(PEER, workdir, secret, tokens, conf, rnd, srv)
                storm = run_gen(srv, srv.port, phase_config("connect", PEER, conf), tokens, workdir)
                if admin is not None:
                    admin.disconnect()
            per, rate = res.get("rss_per_socket_kib"), storm.get("rate")
            log(f"round {rnd} admin UI {label}: {res.get('connected')} sockets, {per} KiB each, "
                f"{rate} connects/s, admin saw {counts}")
            if per:
                results[label].append(per)
            if rate:
                connects[label].append(rate)
    print(json.dumps({"idle": conf["idle"], "rounds": rounds, "runs_kib": results, "connects_per_s": connects,
                      "median_kib": {k: round(statistics.median(v), 1) for k, v in results.items() if v},
                      "median_connects_per_s": {k: round(statistics.median(v)) for k, v in connects.items() if v}}))


if __name__ == "__main__":
    main()
