# Shared set-up for bench/run.sh and bench/smoke.sh (sourced).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# One socket per fd on each side: raise the soft limit to the hard one (about 20000 here).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 20000 2>/dev/null || true
PY=${PY:-.venv/bin/python}
if [ ! -x "$PY" ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q -r requirements.txt
fi
if ! "$PY" -c "import matplotlib, psutil, jwt" 2>/dev/null; then
    .venv/bin/pip install -q -r bench/requirements.txt
fi
for d in bench/peers/node bench/loadgen; do
    if [ ! -d "$d/node_modules" ]; then
        (cd "$d" && npm ci --no-audit --no-fund --silent)
    fi
done
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }
