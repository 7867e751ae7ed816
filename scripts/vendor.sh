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

if [[ "${SKIP_NPM_CI:-0}" != "1" || ! -f "$src/socket.io.esm.min.js" || ! -f node_modules/@socket.io/admin-ui/ui/dist/index.html ]]; then
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

# The Socket.IO Admin UI (served at /admin/socketio/ when ADMIN_UI_ENABLED): its built files,
# with the Google Fonts and @mdi/font CDN links of its index.html pointed at vendored copies.
admin_src="node_modules/@socket.io/admin-ui/ui/dist"
admin_dest="static/vendor/admin-ui"
if [[ ! -f "$admin_src/index.html" ]]; then
    echo "vendor.sh: $admin_src missing after npm ci" >&2
    exit 1
fi
rm -rf "$admin_dest"
mkdir -p "$admin_dest/fonts/files" "$admin_dest/mdi/css" "$admin_dest/mdi/fonts"
cp -R "$admin_src/." "$admin_dest/"
rm -f "$admin_dest"/js/*.map
roboto="node_modules/@fontsource/roboto"
for weight in 100 300 400 500 700 900; do
    cat "$roboto/latin-$weight.css"
    cp "$roboto/files/roboto-latin-$weight-normal.woff2" "$roboto/files/roboto-latin-$weight-normal.woff" \
        "$admin_dest/fonts/files/"
done > "$admin_dest/fonts/roboto.css"
cp node_modules/@mdi/font/css/materialdesignicons.min.css "$admin_dest/mdi/css/"
cp node_modules/@mdi/font/fonts/materialdesignicons-webfont.* "$admin_dest/mdi/fonts/"
sed -i \
    -e 's#https://fonts.googleapis.com/css?family=Roboto:100,300,400,500,700,900#fonts/roboto.css#' \
    -e 's#https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css#mdi/css/materialdesignicons.min.css#' \
    "$admin_dest/index.html"
if grep -Eq '(href|src)="(https?:)?//' "$admin_dest/index.html"; then
    echo "vendor.sh: $admin_dest/index.html still loads something from another host" >&2
    exit 1
fi

# The package's own source, as published: the demo page's import map resolves its bare
# `socket.io-client` import to the vendored file (blueprints/pages.py).
pkg="clients/js/src/index.js"
rm -rf "$dest/flask-realtime-client"
mkdir -p "$dest/flask-realtime-client"
cp "$pkg" "$dest/flask-realtime-client/index.js"
