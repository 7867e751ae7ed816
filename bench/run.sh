#!/usr/bin/env bash
# Full benchmark run (`make bench`): peers side by side, 3 rounds; writes
# docs/benchmarks.md and docs/benchmarks.png (about 20-25 minutes on 2 cores), then the chat path
# (bench/chat.py: docs/benchmarks-chat.md, about 12 minutes) and scale-out (bench/scale.py:
# docs/benchmarks-scale.md, about 6 minutes).
# Sizes and durations: BENCH_* variables, see bench/config.py (make_conf), e.g.
#   BENCH_ROUNDS=1 BENCH_IDLE=2000 BENCH_ECHO_LARGE=300 bench/run.sh   # quick run
source "$(dirname "$0")/_common.sh"
"$PY" -m bench.bench "$@"
"$PY" -m bench.chat
"$PY" -m bench.scale
