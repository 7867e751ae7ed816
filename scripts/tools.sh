#!/usr/bin/env bash
# Test-time tools from npm, pinned in tools/asyncapi/package-lock.json: the AsyncAPI CLI that
# validates /api/asyncapi.json. Installed once (npm ci), into tools/asyncapi/node_modules.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tools/asyncapi"
stamp="$dir/node_modules/.installed"

if [[ -x "$dir/node_modules/.bin/asyncapi" && -f "$stamp" && "$stamp" -nt "$dir/package-lock.json" ]]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "tools.sh: npm not found (install Node.js 18+ and npm)" >&2
    exit 1
fi
cd "$dir"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
touch "$stamp"
