"""The main report (docs/benchmarks.md): its figures computed from the raw results, its prose and
tables in bench/templates/benchmarks.md.j2.

`report_context()` turns a results JSON into the template's context: every number already
formatted as the report shows it, every target as a flag the template words.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench import config
from bench.config import BENCH, log
from bench.servers import PEER_INFO
from bench.summary import FIGURES, core_targets, fmt, fmt_mmm, fmt_ratio, runtime_targets, summarize, targets
from bench.templating import render

# The columns of the ratio table, in the template's header order: (numerator, denominator).
RATIO_COLUMNS = (("app-audit-on", "flask-min"), ("app-audit-on", "node"),
                 ("app-audit-on", "app-audit-off"), ("app-gevent", "app-audit-on"))
# A generator using this much of its core may be what limits a figure.
GEN_CPU_LIMIT = 70
# Appended to the full run's report (not the smoke run's): the analysis of the figures.
ANALYSIS = BENCH / "analysis.md"


def measured_peers(data: dict) -> list[str]:
    """The run's peers that have results, in the run's order."""
    results = data["results"]
    return [p for p in data["conf"]["peers"] if p in results and results[p]]


def table_context(s: dict, peers: list[str]) -> dict:
    """The results table: one column per peer, one row per figure, `**median** (min–max)` cells."""
    return {"labels": [PEER_INFO[p]["label"] for p in peers],
            "rows": [{"label": label, "unit": unit, "cells": [fmt_mmm(s["figures"][p][key], unit) for p in peers]}
                     for key, label, unit, _, _ in FIGURES]}


def render_table(s: dict, peers: list[str]) -> str:
    """The results table alone (what a run prints when it ends), without a final newline."""
    return render("_results_table.md.j2", {"table": table_context(s, peers)}).rstrip("\n")


def proof_context(data: dict, s: dict, peers: list[str]) -> dict | None:
    """The generator's proof (the Node peer at 3x the rates used): its rows, and what they imply."""
    proof = data.get("proof")
    if not proof:
        return None
    pr = proof["rates"]

    def row(res: dict, **achieved) -> dict:
        g = res.get("gen_cpu")
        return dict(achieved, gen_cpu=fmt(g), light=g is not None and g < GEN_CPU_LIMIT)

    echo = proof["echo"]
    step = (proof["broadcast"].get("steps") or [{}])[0]
    c = proof["connect"]
    # the generator's CPU per 1,000 connects/s, from the one rate it was driven at
    per_k = (c.get("gen_cpu") or 0) / max(c.get("rate") or 1, 1) * 1000
    out = {
        "rates": {"connect": f"{pr['connect']:.0f}", "echo_clients": pr["echo_clients"],
                  "saturate": f"{pr['saturate']:.0f}", "bcast": f"{pr['bcast']:.0f}"},
        "connect": row(c, rate=fmt(c.get("rate"))),
        "echo": row(echo, rate=fmt(echo.get("achieved_rate")), p99=fmt(echo.get("latency_ms", {}).get("p99"), "ms")),
        "saturate": row(proof["saturate"], rate=fmt(proof["saturate"].get("achieved_rate"))),
        "broadcast": row(step, deliveries=fmt(step.get("deliveries_per_s"))),
        "node_connect_rate": fmt(c.get("rate")),
        "per_k": f"{per_k:.0f}",
        "fastest": None,
    }
    py_rates = [s["figures"][p]["connect_rate"][1] for p in peers
                if p != "node" and s["figures"][p]["connect_rate"]]
    if py_rates:
        need = 3 * max(py_rates) * per_k / 1000
        out["fastest"] = {"rate": fmt(max(py_rates)), "need": f"{need:.0f}", "under": need < GEN_CPU_LIMIT}
    return out


def recorded(rounds: list[dict], phase: str, key: str) -> list[float]:
    """The values of `key` that the rounds recorded for `phase`."""
    return [r[phase].get(key) for r in rounds if r.get(phase, {}).get(key) is not None]


def generator_context(results: dict, peers: list[str]) -> dict | None:
    """The generator's CPU in every phase: the phases where it may have been the limit, and the
    server's CPU and its core's other load (the noise) next to it. None when no phase recorded it."""
    gen_rows = []
    for p in peers:
        for rnd in results[p]:
            for ph in ("connect", "echo_large", "saturate"):
                g = rnd.get(ph, {}).get("gen_cpu")
                if g is not None:
                    gen_rows.append((p, ph, g, rnd[ph].get("server_cpu")))
            for st in rnd.get("broadcast", {}).get("steps", []):
                gen_rows.append((p, f"broadcast {st['rate_msgs']:.0f} msg/s", st["gen_cpu"], None))
    if not gen_rows:
        return None
    busy = [{"peer": PEER_INFO[p]["short"], "phase": ph, "gen_cpu": f"{g:.0f}",
             "server_cpu": None if sc is None else f"{sc:.0f}"}
            for p, ph, g, sc in gen_rows if g >= GEN_CPU_LIMIT]
    servers = []
    for p in peers:
        for ph in ("connect", "saturate"):
            vals, gens, others = (recorded(results[p], ph, key) for key in ("server_cpu", "gen_cpu",
                                                                               "server_core_others"))
            if vals:
                servers.append({"peer": PEER_INFO[p]["short"], "phase": ph,
                                "server_cpu": f"{statistics.median(vals):.0f}",
                                "others": f"{statistics.median(others):.0f}" if others else None,
                                "gen_cpu": f"{statistics.median(gens):.0f}"})
    return {"busy": busy, "servers": servers}


def report_context(data: dict, png_name: str) -> dict:
    """Everything benchmarks.md.j2 shows, computed from a results JSON (as bench.bench writes it)."""
    conf = data["conf"]
    results = data["results"]
    peers = measured_peers(data)
    s = summarize({p: results[p] for p in peers}, conf)
    both = "flask-min" in peers and "node" in peers
    return {
        "command": data["command"], "date": data["date"], "git": data["git"], "conf": conf, "png": png_name,
        "table": table_context(s, peers),
        "has_app": any(p.startswith("app-") for p in peers),
        "ratios": [{"label": label, "cells": [fmt_ratio(s["ratio"](key, num, den)) for num, den in RATIO_COLUMNS]}
                   for key, label, _, _, _ in FIGURES],
        "targets": targets(s),
        "core_targets": core_targets(s),
        "runtime_targets": runtime_targets(s),
        "ab_ratios": [{"label": label, "ratio": fmt_ratio(s["ratio"](key, "flask-min", "node"))}
                      for key, label, _, _, _ in FIGURES] if both else [],
        # read now, as the run did: the priority the servers and the generator ran at
        "nice": config.NICE,
        "gen_cpu_limit": GEN_CPU_LIMIT,
        "proof": proof_context(data, s, peers),
        "generator": generator_context(results, peers),
        "analysis": ANALYSIS.read_text().strip() if ANALYSIS.exists() and not conf.get("smoke") else None,
        "machine": data["machine"],
        "versions": [f"{name} {version}" for name, version in data["versions"].items()],
        "env": sorted(data["env"].items()),
    }


def render_report(data: dict, png_name: str) -> str:
    """The markdown of the main report; `png_name` is the chart's file name, next to the report."""
    return render("benchmarks.md.j2", report_context(data, png_name))


def write_report(data: dict, out_md: Path, out_png: Path) -> None:
    """Write the report to `out_md` and its chart to `out_png` (a chart that fails is logged, not fatal)."""
    from bench.chart import chart

    out_md.write_text(render_report(data, out_png.name))
    peers = measured_peers(data)
    try:
        chart(summarize({p: data["results"][p] for p in peers}, data["conf"]), peers, out_png)
    except Exception as e:  # noqa: BLE001
        log("chart failed:", e)
