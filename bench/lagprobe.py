"""Event-loop lag probe for eventlet servers under benchmark.

A greenlet sleeps 5 ms in a loop and logs, once a second, the worst overshoot
("<epoch second> <ms>") to the file named by BENCH_LAG_FILE. Anything that
blocks the hub (a synchronous DB write, a long GC pause) shows up here.
"""

import time


def start_lag_probe(path, interval=0.005):
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
