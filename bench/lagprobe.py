"""Event-loop lag probe for eventlet servers under benchmark.

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
        started = {}

        def on_gc(phase, info):
            if phase == "start":
                started["t"] = time.perf_counter()
            elif "t" in started:
                ms = (time.perf_counter() - started.pop("t")) * 1000
                if ms >= 5:
                    print(f"BENCH_GC gen={info['generation']} ms={ms:.1f} collected={info['collected']} "
                          f"tracked={len(gc.get_objects(info['generation']))}", flush=True)

        gc.callbacks.append(on_gc)
    elif os.environ.get("BENCH_GC") == "tuned":
        gc.freeze()
        gc.set_threshold(70000, 20, 1000)
    if not path:
        return None
    import eventlet

    def run():
        with open(path, "a", buffering=1) as out:
            worst = 0.0
            bucket = int(time.time())
            last = time.perf_counter()
            while True:
                eventlet.sleep(interval)
                t = time.perf_counter()
                worst = max(worst, (t - last - interval) * 1000)
                last = t
                b = int(time.time())
                if b != bucket:
                    out.write(f"{bucket} {worst:.3f}\n")
                    bucket = b
                    worst = 0.0

    return eventlet.spawn(run)
