#!/usr/bin/env bash
# Smoke run of the benchmark harness (inside `make test`): a few clients, a few
# seconds, one round; prints the table. Exit 0 when the harness worked end to
# end. No timing is judged. Writes bench/results/smoke.{md,png,json}.
source "$(dirname "$0")/_common.sh"
exec "$PY" -m bench.bench --smoke "$@"
