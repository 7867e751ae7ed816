"""The main report's chart (docs/benchmarks.png): six headline figures per peer, median bars with
min–max whiskers, the app's targets as dashed lines."""

from __future__ import annotations

from pathlib import Path

from bench.servers import PEER_INFO
from bench.summary import fmt

# (figure key, panel title, lower is better)
PANELS = [("connect_rate", "authenticated connects/s", False),
          ("echo_large_p99", "ack p99 @ large count (ms)", True),
          ("saturate", "acked events/s (saturation)", False),
          ("deliveries", "broadcast deliveries/s", False),
          ("rss_per_socket", "RSS per idle socket (KiB)", True),
          ("lag_echo", "longest loop pause, echo (ms)", True)]
COLORS = {"flask-min": "#7f7f7f", "node": "#2ca02c", "app-audit-on": "#1f77b4", "app-audit-off": "#9ecae1",
          "app-gevent": "#ff7f0e"}
# (value, label) of the target line drawn on a panel
TARGETS = {"echo_large_p99": (25, "target 25 ms"), "deliveries": (15000, "target 15,000/s"),
           "rss_per_socket": (50000 / 1024, "target 50 KB")}


def chart(s: dict, peers: list[str], out_png: Path) -> None:
    """Draw the summary `s` (bench.summary.summarize) of `peers` into `out_png`."""
    import matplotlib  # imported here: a report without a chart needs no matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, title, lower) in zip(axes.flat, PANELS, strict=False):
        xs, meds, lo, hi, cols = [], [], [], [], []
        for p in peers:
            t = s["figures"][p][key]
            if t is None:
                continue
            xs.append(PEER_INFO[p]["short"])
            meds.append(t[1])
            lo.append(t[1] - t[0])
            hi.append(t[2] - t[1])
            cols.append(COLORS[p])
        ax.bar(range(len(xs)), meds, yerr=[lo, hi], color=cols, capsize=4)
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels(xs, rotation=20, ha="right", fontsize=8)
        ax.set_title(title + (" (lower is better)" if lower else ""), fontsize=10)
        # latencies span orders of magnitude between peers
        if "(ms)" in title and meds and min(meds) > 0:
            ax.set_yscale("log")
        target = TARGETS.get(key)
        if target:
            ax.axhline(target[0], color="#d62728", linestyle="--", linewidth=1)
            ax.annotate(target[1], (len(xs) - 0.5, target[0]), ha="right", va="bottom", fontsize=7,
                        color="#d62728")
        for i, v in enumerate(meds):
            ax.annotate(fmt(v, "ms" if "ms" in title else ""), (i, v), ha="center", va="bottom", fontsize=8)
    fig.suptitle("Flask-SocketIO + JWT benchmark: median of rounds, bars = min–max (server on 1 core)")
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
