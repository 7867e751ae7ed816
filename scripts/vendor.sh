#!/usr/bin/env bash
# Install the pinned browser dependencies (package-lock.json), copy the socket.io-client
# ES module build into static/vendor/ and link the client package (clients/js/src) there.
# The demo page's import map resolves the bare names to these files:
#   socket.io-client       -> /static/vendor/socket.io.esm.min.js
#   flask-realtime-client  -> /static/vendor/flask-realtime-client/index.js
# No CDN and no build step: the page works with loopback only.
#
# Usage: scripts/vendor.sh          (from anywhere; works relative to the repo root)
#        SKIP_NPM_CI=1 scripts/vendor.sh   (reuse an existing node_modules/)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

src="node_modules/socket.io-client/dist"
dest="static/vendor"

if [[ "${SKIP_NPM_CI:-0}" != "1" || ! -f "$src/socket.io.esm.min.js" ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "vendor.sh: npm not found (install Node.js 18+ and npm)" >&2
        exit 1
    fi
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

if [[ ! -f "$src/socket.io.esm.min.js" ]]; then
    echo "vendor.sh: $src/socket.io.esm.min.js missing after npm ci" >&2
    exit 1
fi

mkdir -p "$dest"
cp "$src/socket.io.esm.min.js" "$dest/"
if [[ -f "$src/socket.io.esm.min.js.map" ]]; then
    cp "$src/socket.io.esm.min.js.map" "$dest/"
fi

# The package's own source, served as is (a link, so it never goes stale).
ln -sfn ../../clients/js/src "$dest/flask-realtime-client"
