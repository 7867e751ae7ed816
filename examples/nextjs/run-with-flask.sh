#!/usr/bin/env bash
# Runs the Flask app (gunicorn, eventlet) and this Next.js app side by side:
#   Flask    http://${FLASK_HOST:-127.0.0.1}:${FLASK_PORT:-5000}   (CORS_ALLOWED_ORIGINS lets the Next.js origin in)
#   Next.js  http://${FLASK_HOST:-127.0.0.1}:${NEXT_PORT:-3000}
# `make run-nextjs HOST=... PORT=... NEXT_PORT=...` sets them, as `make run` takes HOST and PORT.
# From the repository root: `make run-nextjs` (installs, builds, then runs this). Ctrl-C stops both.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
host="${FLASK_HOST:-127.0.0.1}"
flask_port="${FLASK_PORT:-5000}"
next_port="${NEXT_PORT:-3000}"
next_origin="http://$host:$next_port"
flask_url="http://$host:$flask_port"

# NextAuth encrypts its session cookie with NEXTAUTH_SECRET: made once, kept in instance/.
secret_file="$root/instance/nextauth-secret"
if [[ -z "${NEXTAUTH_SECRET:-}" ]]; then
    if [[ ! -s "$secret_file" ]]; then
        mkdir -p "$root/instance"
        (umask 077 && node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))' > "$secret_file")
    fi
    NEXTAUTH_SECRET="$(cat "$secret_file")"
fi

# Shared by both servers for this run: with it, Flask counts sign-in failures per browser
# address (which Next.js passes along) instead of per Next.js server.
export FLASK_FRONTEND_KEY="${FLASK_FRONTEND_KEY:-$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')}"

cd "$root"
export FLASK_CORS_ALLOWED_ORIGINS="[\"$next_origin\"]"
.venv/bin/flask --app app db upgrade
.venv/bin/gunicorn -k eventlet -w 1 --worker-connections 10000 --no-control-socket \
    -b "$host:$flask_port" wsgi:app &
flask_pid=$!
trap 'kill "$flask_pid" 2>/dev/null; wait "$flask_pid" 2>/dev/null || true' EXIT INT TERM

cd "$here"
echo "Flask:   $flask_url"
echo "Next.js: $next_origin   (open this one)"
NEXT_PUBLIC_SOCKET_URL="$flask_url" \
REALTIME_API_URL="$flask_url" \
NEXTAUTH_URL="$next_origin" NEXTAUTH_SECRET="$NEXTAUTH_SECRET" NEXT_TELEMETRY_DISABLED=1 \
    node_modules/.bin/next start --hostname "$host" --port "$next_port"
