#!/usr/bin/env bash
# Full benchmark run (`make bench`): peers side by side, 3 rounds; writes
# docs/benchmarks.md and docs/benchmarks.png. About 20-25 minutes on 2 cores (one round: about 7).
# Sizes and durations: BENCH_* variables, see bench/bench.py (make_conf), e.g.
#   BENCH_ROUNDS=1 BENCH_IDLE=2000 BENCH_ECHO_LARGE=300 bench/run.sh   # quick run
source "$(dirname "$0")/_common.sh"
exec "$PY" -m bench.bench "$@"
