"""From raw rounds to figures: each figure per peer as (min, median, max), per-round ratios between
peers, and the targets the app is held to.

A ratio is always taken between two peers' figures of the same round, then summarised over the
rounds: machine noise that hits one round hits both peers alike.
"""

from __future__ import annotations

import statistics

from bench.servers import PEER_INFO

FIGURES = [
    # key, label, unit, extractor, higher_is_better
    ("connect_rate", "authenticated connects/s", "/s", lambda r: r["connect"].get("rate"), True),
    ("connect_p50", "connect time p50", "ms", lambda r: r["connect"]["connect_ms"]["p50"], False),
    ("connect_p99", "connect time p99", "ms", lambda r: r["connect"]["connect_ms"]["p99"], False),
    ("echo_small_p50", "ack p50, small client count", "ms", lambda r: r["echo_small"]["latency_ms"]["p50"], False),
    ("echo_small_p99", "ack p99, small client count", "ms", lambda r: r["echo_small"]["latency_ms"]["p99"], False),
    ("echo_large_p50", "ack p50, large client count", "ms", lambda r: r["echo_large"]["latency_ms"]["p50"], False),
    ("echo_large_p99", "ack p99, large client count", "ms", lambda r: r["echo_large"]["latency_ms"]["p99"], False),
    ("saturate", "acked events/s at saturation", "/s", lambda r: r["saturate"]["rate"], True),
    ("deliveries", "broadcast deliveries/s (best step)", "/s",
     lambda r: max(s["deliveries_per_s"] for s in r["broadcast"]["steps"]), True),
    ("delivery_p99", "delivery p99 at the target step", "ms", lambda r: target_step(r)["delivery_ms"]["p99"], False),
    ("idle_sockets", "idle sockets held", "", lambda r: r["idle"]["still_open"], True),
    ("rss_per_socket", "RSS per idle socket", "KiB", lambda r: r["idle"]["rss_per_socket_kib"], False),
    ("lag_connect", "longest event-loop pause, connect storm", "ms", lambda r: r["connect"]["lag_max_ms"], False),
    ("lag_echo", "longest event-loop pause, large echo", "ms", lambda r: r["echo_large"]["lag_max_ms"], False),
    ("lag_bcast", "longest event-loop pause, broadcast", "ms", lambda r: r["broadcast"]["lag_max_ms"], False),
]
TARGET_DELIVERIES = 15000


def target_step(r: dict) -> dict:
    """The broadcast step whose offered deliveries/s are nearest the 15,000/s target."""
    steps = r["broadcast"]["steps"]
    return min(steps, key=lambda s: abs(s["offered_deliveries"] - TARGET_DELIVERIES))


def figure(r: dict, fn) -> float | None:
    """One figure of one round; None when the round lacks it (a failed or skipped phase)."""
    try:
        v = fn(r)
        return None if v is None else float(v)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
        return None


def mmm(vals: list) -> tuple[float, float, float] | None:
    """(min, median, max) of the values that are there; None when none is."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return (min(vals), statistics.median(vals), max(vals))


def fmt(v: float | None, unit: str = "") -> str:
    """A figure as the report shows it: as many digits as its size and unit deserve, n/a when missing."""
    if v is None:
        return "n/a"
    if unit == "ms":
        return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
    if unit == "KiB":
        return f"{v:.1f}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"


def fmt_mmm(t: tuple | None, unit: str = "") -> str:
    """A (min, median, max) figure as `**median** (min–max)`."""
    if t is None:
        return "n/a"
    lo, med, hi = t
    return f"**{fmt(med, unit)}** ({fmt(lo, unit)}–{fmt(hi, unit)})"


def fmt_ratio(t: tuple | None) -> str:
    """A (min, median, max) ratio as `1.23x (1.01–1.50)`."""
    return "n/a" if t is None else f"{t[1]:.2f}x ({t[0]:.2f}–{t[2]:.2f})"


def summarize(results: dict, conf: dict) -> dict:
    """results[peer] = [round dicts]; returns per-peer figures and per-round ratios."""
    figs = {p: {k: mmm([figure(r, fn) for r in rounds]) for k, _, _, fn, _ in FIGURES}
            for p, rounds in results.items()}
    per_round = {p: [{k: figure(r, fn) for k, _, _, fn, _ in FIGURES} for r in rounds]
                 for p, rounds in results.items()}

    def ratio(key, num, den):
        if num not in per_round or den not in per_round:
            return None
        vals = []
        for a, b in zip(per_round[num], per_round[den], strict=False):
            if a.get(key) is not None and b.get(key):
                vals.append(a[key] / b[key])
        return mmm(vals)

    return {"figures": figs, "per_round": per_round, "ratio": ratio}


def targets(s: dict) -> list[tuple]:
    """(target, value text, met?) rows for the app with audit on."""
    R = s["ratio"]
    F = s["figures"]
    app = "app-audit-on"
    rows = []

    def add(name, t, ok):
        rows.append((name, t, ok))

    if app not in F:
        return rows
    c_a = R("connect_rate", app, "flask-min")
    c_b = R("connect_rate", app, "node")
    add("connects/s ≥ 0.9x (a)", fmt_ratio(c_a), c_a is not None and c_a[1] >= 0.9)
    add("connects/s ≥ 0.5x (b)", fmt_ratio(c_b), c_b is not None and c_b[1] >= 0.5)
    p99 = F[app]["echo_large_p99"]
    add("ack p99 at the large client count ≤ 25 ms", fmt_mmm(p99, "ms") + " ms", p99 is not None and p99[1] <= 25)
    e_b = R("echo_large_p99", app, "node")
    add("ack p99 at the large client count ≤ 2x (b)", fmt_ratio(e_b), e_b is not None and e_b[1] <= 2)
    d = F[app]["deliveries"]
    add("≥ 15,000 deliveries/s", fmt_mmm(d), d is not None and d[1] >= 15000)
    held = F[app]["idle_sockets"]
    rss = F[app]["rss_per_socket"]
    add("10,000 idle sockets held", fmt_mmm(held), held is not None and held[1] >= 10000)
    add("≤ 50 KB per idle socket", fmt_mmm(rss, "KiB") + " KiB", rss is not None and rss[1] * 1024 <= 50000)
    if "app-audit-off" in F:
        for key, label in (("connect_rate", "connects/s"), ("saturate", "acked events/s"),
                           ("deliveries", "deliveries/s")):
            r = R(key, app, "app-audit-off")
            add(f"audit on ≥ 0.8x audit off: {label}", fmt_ratio(r), r is not None and r[1] >= 0.8)
    return rows


# (figure key, label, at most / at least, bound): gevent/eventlet ratios the gevent runtime must meet.
RUNTIME_TARGETS = [
    ("rss_per_socket", "idle RSS per socket", "≤", 1.05),
    ("echo_large_p99", "ack p99 at the large client count", "≤", 1.2),
    ("delivery_p99", "broadcast delivery p99 at the target step", "≤", 1.2),
    ("saturate", "acked events/s at saturation", "≥", 0.9),
    ("connect_rate", "authenticated connects/s", "≥", 0.9),
]


def runtime_targets(s: dict) -> list[tuple]:
    """(target, value text, met?) rows: the app on gevent as ratios to the app on eventlet."""
    rows = []
    if "app-gevent" not in s["figures"] or "app-audit-on" not in s["figures"]:
        return rows
    for key, label, op, bound in RUNTIME_TARGETS:
        t = s["ratio"](key, "app-gevent", "app-audit-on")
        ok = t is not None and (t[1] <= bound if op == "≤" else t[1] >= bound)
        rows.append((f"{label} {op} {bound}x eventlet", fmt_ratio(t), ok))
    return rows


# (figure key, label, peer compared with, at most / at least, bound): per-core targets each runtime
# of the app (audit on) must meet against the bare Flask-SocketIO app (a) and the Node design (b).
CORE_TARGETS = [
    ("saturate", "acked events/s at saturation", "flask-min", "≥", 2.0),
    ("saturate", "acked events/s at saturation", "node", "≥", 0.25),
    ("delivery_p99", "broadcast delivery p99 at the target step", "node", "≤", 1.3),
    ("rss_per_socket", "idle RSS per socket", "node", "≤", 1.3),
    ("connect_rate", "authenticated connects/s", "node", "≥", 1.0),
    ("connect_p99", "connect time p99", "node", "≤", 1.0),
]


def core_targets(s: dict) -> list[tuple]:
    """(target, eventlet value text, met?, gevent value text, met?) rows against (a) and (b)."""
    rows = []
    for key, label, peer, op, bound in CORE_TARGETS:
        cells = []
        for app in ("app-audit-on", "app-gevent"):
            t = s["ratio"](key, app, peer) if app in s["figures"] and peer in s["figures"] else None
            ok = t is not None and (t[1] <= bound if op == "≤" else t[1] >= bound)
            cells += [fmt_ratio(t), ok]
        rows.append((f"{label} {op} {bound}x {PEER_INFO[peer]['short']}", *cells))
    return rows
