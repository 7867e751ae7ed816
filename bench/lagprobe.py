"""Event-loop lag probe for eventlet and gevent servers under benchmark.

A greenlet sleeps 5 ms in a loop and logs, once a second, the worst overshoot
("<epoch second> <ms>") to the file named by BENCH_LAG_FILE. Anything that
blocks the hub (a synchronous DB write, a long GC pause) shows up here.
"""

import gc
import os
import time


def start_lag_probe(path, interval=0.005):
    # Diagnostic knob (never set by the benchmark itself): BENCH_GC=off disables
    # the cyclic garbage collector in the server, to test whether GC causes stalls.
    # BENCH_GC=tuned: gc.freeze() the start-up heap and collect the young generation
    # 100x less often (what a server could do in its wsgi module).
    if os.environ.get("BENCH_GC") == "off":
        gc.disable()
    elif os.environ.get("BENCH_GC") == "trace":
        # log every collection that takes 5 ms or more: generation, ms, objects collected
        import threading

        started = {}
        floor = float(os.environ.get("BENCH_GC_TRACE_MS", "5"))

        def on_gc(phase, info):
            if phase == "start":
                big = ""
                if os.environ.get("BENCH_GC_TRACE_BIG") and info["generation"] < 2:
                    import collections

                    objs = gc.get_objects(info["generation"])
                    kinds = collections.Counter(type(o).__name__ for o in objs)
                    big = f" n={len(objs)} kinds={kinds.most_common(8)}"
                started["t"], started["count"], started["big"] = time.perf_counter(), gc.get_count(), big
            elif "t" in started:
                ms = (time.perf_counter() - started.pop("t")) * 1000
                if ms >= floor:
                    print(f"BENCH_GC t={time.time():.3f} gen={info['generation']} ms={ms:.1f} "
                          f"collected={info['collected']} counts={started['count']} "
                          f"frozen={gc.get_freeze_count()} thread={threading.current_thread().name}{started['big']}",
                          flush=True)

        gc.callbacks.append(on_gc)
    elif os.environ.get("BENCH_GC") == "tuned":
        gc.freeze()
        gc.set_threshold(70000, 20, 1000)
    if not path:
        return None
    import sys

    if "gevent" in sys.modules and sys.modules["gevent"].monkey.is_module_patched("socket"):
        import gevent as green
    else:
        import eventlet as green

    def run():
        with open(path, "a", buffering=1) as out:
            worst = 0.0
            bucket = int(time.time())
            last = time.perf_counter()
            while True:
                green.sleep(interval)
                t = time.perf_counter()
                worst = max(worst, (t - last - interval) * 1000)
                last = t
                b = int(time.time())
                if b != bucket:
                    out.write(f"{bucket} {worst:.3f}\n")
                    bucket = b
                    worst = 0.0

    return green.spawn(run)
