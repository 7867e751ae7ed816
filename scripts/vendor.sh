#!/usr/bin/env bash
# Install the pinned browser dependencies (package-lock.json), copy the socket.io-client
# ES module build into static/vendor/ and serve the client package's own file
# (clients/js/src/index.js) next to it, with its one bare import
# (`from "socket.io-client"`) pointed at the vendored build. The demo page imports
# /static/vendor/flask-realtime-client/index.js: no CDN, no bundler, loopback only.
# (An inline import map would do the same, but the page's Content-Security-Policy,
# script-src 'self', refuses inline scripts, import maps included.)
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

# The package's own source, its bare import resolved to the vendored file.
pkg="clients/js/src/index.js"
if [[ "$(grep -c '^import { io } from "socket.io-client";$' "$pkg")" != "1" ]]; then
    echo "vendor.sh: $pkg must import socket.io-client exactly once, as 'import { io } from \"socket.io-client\";'" >&2
    exit 1
fi
rm -rf "$dest/flask-realtime-client"
mkdir -p "$dest/flask-realtime-client"
sed 's#^import { io } from "socket.io-client";$#import { io } from "../socket.io.esm.min.js";#' \
    "$pkg" > "$dest/flask-realtime-client/index.js"
