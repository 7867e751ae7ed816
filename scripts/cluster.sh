#!/usr/bin/env bash
# `make run-cluster`: the scale-out layout on one machine, everything on loopback.
#   redis-server (message queue + registry)  127.0.0.1:$REDIS_PORT
#   PostgreSQL (data in .run/pg)             127.0.0.1:$PG_PORT
#   gunicorn -k $WORKER -w 1, one per port   127.0.0.1:$APP_PORTS (WORKER: eventlet or gevent)
#   nginx (ip_hash, WebSocket upgrade)       http://127.0.0.1:$PORT   <- open this one
# Ctrl-C (or any one of them dying) stops everything. State lives in the git-ignored .run/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN="$ROOT/.run"
PORT=${PORT:-5000}
APP_PORTS=${APP_PORTS:-"5001 5002"}
REDIS_PORT=${REDIS_PORT:-6390}
PG_PORT=${PG_PORT:-5440}
WORKER_CONNECTIONS=${WORKER_CONNECTIONS:-10000}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WORKER=${WORKER:-eventlet}
case "$WORKER" in
  eventlet) VENV=.venv ;;
  gevent) VENV=.venv-gevent; export FLASK_SOCKETIO_JWT_ASYNC_MODE=gevent ;;
  *) echo "WORKER must be eventlet or gevent" >&2; exit 1 ;;
esac

for bin in redis-server "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$NGINX"; do
  command -v "$bin" >/dev/null || { echo "missing $bin: run 'make sysdeps'" >&2; exit 1; }
done
mkdir -p "$RUN/redis" "$RUN/pg" "$RUN/nginx" "$RUN/logs"

as_postgres() {  # initdb refuses root: run PostgreSQL's tools as the postgres user
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  as_postgres "'$PG_BIN/pg_ctl' -D '$RUN/pg/data' -m fast -w stop" >/dev/null 2>&1 || true
  echo "stopped"
}
trap cleanup INT TERM EXIT

# -- Redis ----------------------------------------------------------------------------------
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RUN/redis" \
  --daemonize no >"$RUN/logs/redis.log" 2>&1 &
pids+=($!)

# -- PostgreSQL -----------------------------------------------------------------------------
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$RUN/pg"
if [ ! -f "$RUN/pg/data/PG_VERSION" ]; then
  as_postgres "'$PG_BIN/initdb' -D '$RUN/pg/data' -U postgres --auth=trust -E UTF8" >"$RUN/logs/initdb.log"
fi
as_postgres "'$PG_BIN/pg_ctl' -D '$RUN/pg/data' -l '$RUN/pg/postgres.log' -w \
  -o '-p $PG_PORT -k $RUN/pg -c listen_addresses=127.0.0.1' start" >/dev/null
if ! as_postgres "psql -h 127.0.0.1 -p $PG_PORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='realtime'\"" | grep -q 1; then
  as_postgres "createdb -h 127.0.0.1 -p $PG_PORT -U postgres realtime"
fi

# -- the app --------------------------------------------------------------------------------
export FLASK_SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/realtime"
export FLASK_SOCKETIO_JWT_MESSAGE_QUEUE="redis://127.0.0.1:$REDIS_PORT/0"
export FLASK_TRUSTED_PROXIES=1  # nginx is the one proxy in front
export PSYCOPG_WAIT_FUNC=wait_select
# The schema, and the instance folder's secrets, exist before any worker starts: all share them.
"$VENV/bin/flask" --app app db upgrade
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
upstreams=""
for p in $APP_PORTS; do
  # One audit spill file per process: two writers must not replay the same file.
  FLASK_SOCKETIO_JWT_AUDIT_SPILL_FILE="$RUN/audit-spill-$p.jsonl" "$VENV/bin/gunicorn" -k "$WORKER" -w 1 --no-control-socket \
    --worker-connections "$WORKER_CONNECTIONS" -b "127.0.0.1:$p" wsgi:app >"$RUN/logs/app-$p.log" 2>&1 &
  pids+=($!)
  upstreams+="        server 127.0.0.1:$p;"$'\n'
done

# -- nginx ----------------------------------------------------------------------------------
python3 - "$ROOT/deploy/nginx.conf.template" "$RUN/nginx/nginx.conf" "127.0.0.1:$PORT" "$RUN/nginx" "$upstreams" <<'EOF'
import sys
template, out, listen, run_dir, servers = sys.argv[1:]
text = open(template).read().replace("@LISTEN@", listen).replace("@RUN_DIR@", run_dir)
open(out, "w").write(text.replace("@UPSTREAM_SERVERS@", servers.rstrip("\n")))
EOF
"$NGINX" -t -q -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf"
"$NGINX" -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" 2>"$RUN/logs/nginx.log" &
pids+=($!)

for i in $(seq 1 100); do
  if "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/healthz', timeout=1)" \
    2>/dev/null; then break; fi
  sleep 0.2
done
echo "cluster up: http://127.0.0.1:$PORT (app processes on $APP_PORTS; logs in .run/logs). Ctrl-C stops."
# Return when any one of them exits (or on Ctrl-C); the trap stops the rest.
wait -n "${pids[@]}" || true
