"""The client package (clients/js): `node --test` unit tests against real servers, and the
package as `npm pack` makes it, installed and imported in a folder outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.app.conftest import SECRET, LiveServer
from tests.package.test_npm_package import PACKED_FILES
from tests.support.live import live_fixture

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "clients" / "js"
NPM_CACHE = ROOT / ".cache" / "npm"  # filled by `make nextjs-deps`; installs below are offline

pytestmark = pytest.mark.timeout(240)


@live_fixture(scope="module")
def servers(tmp_path_factory):
    """A server with 3-second tokens and 2 sockets per user, and one that rate-limits fast."""
    main = LiveServer(tmp_path_factory.mktemp("pkg"), {
        "FLASK_JWT_ACCESS_TOKEN_EXPIRES": "3",
        "FLASK_SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": "2",
        "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[1000, 60]",
    })
    limited = LiveServer(tmp_path_factory.mktemp("pkg-limited"), {"FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[3, 60]"})
    for s in (main, limited):
        s.migrate()
        s.start()
    yield main, limited
    for s in (main, limited):
        s.stop()


def run(cmd: list[str], cwd: Path, env: dict | None = None, timeout: float = 180) -> str:
    p = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout[-6000:]}\n{p.stderr[-4000:]}"
    return p.stdout


def test_node_unit_tests_against_a_real_server(servers):
    main, limited = servers
    run(["node", "--test", "--test-reporter=spec", "tests/app/js/client.test.mjs"], ROOT, {
        "REALTIME_URL": main.url, "REALTIME_LIMITED_URL": limited.url, "REALTIME_JWT_SECRET": SECRET,
    })


IMPORT_CHECK = """
import { createSocket, dmRoom, TERMINAL_CODES, RETRYABLE_CODES } from "flask-realtime-client";
import pkg from "flask-realtime-client/package.json" with { type: "json" };
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const pkgJson = require.resolve("flask-realtime-client/package.json");
const typesPath = pkgJson.replace(/package\\.json$/, pkg.exports["."].types);
const fs = await import("node:fs");
const types = fs.readFileSync(typesPath, "utf8");
const base = process.env.REALTIME_URL;
const post = (path, body) => fetch(base + path, {method: "POST", headers: {"Content-Type": "application/json"},
  body: JSON.stringify(body)}).then((r) => r.json());
const username = "pack" + Math.random().toString(36).slice(2, 10);
await post("/api/auth/register", {username, password: "correct horse battery"});
const {access_token} = await post("/api/auth/login", {username, password: "correct horse battery"});
const rt = createSocket({url: base, getToken: () => access_token, transports: ["websocket"]});
const session = await new Promise((resolve) => rt.on("session", resolve));
const who = await rt.emitWithAck("whoami");
rt.close();
console.log(JSON.stringify({version: pkg.version, who: who.user.username, username, sid: !!session.sid,
  dm: dmRoom("b", "a"), terminal: TERMINAL_CODES.includes("user_unknown"),
  retryable: RETRYABLE_CODES.includes("unavailable"), types: types.includes("export declare function createSocket")}));
process.exit(0);
"""


def write_consumer(app: Path, tarball: Path) -> None:
    """An app depending on the tarball and on socket.io-client, locked to the versions the
    example's lockfile pins (so `npm ci --offline` needs only npm's cache, no registry)."""
    deps = {"flask-realtime-client": f"file:{tarball}", "socket.io-client": "4.8.4"}
    (app / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True,
                                                  "type": "module", "dependencies": deps}))
    example = json.loads((ROOT / "examples/nextjs/package-lock.json").read_text())["packages"]
    packages = {"": {"name": "consumer", "version": "1.0.0", "dependencies": deps},
                "node_modules/flask-realtime-client": {"version": "1.0.0", "resolved": f"file:{tarball}",
                                                       "peerDependencies": {"socket.io-client": "^4.8.0"}}}
    todo = ["socket.io-client"]
    while todo:
        key = "node_modules/" + todo.pop()
        if key in packages:
            continue
        entry = example[key]
        packages[key] = entry
        todo += [*entry.get("dependencies", {}),
                 *(d for d in entry.get("optionalDependencies", {}) if "node_modules/" + d in example)]
    lock = {"name": "consumer", "version": "1.0.0", "lockfileVersion": 3, "requires": True, "packages": packages}
    (app / "package-lock.json").write_text(json.dumps(lock, indent=2))


def test_packed_package_installs_and_imports_outside_the_repo(servers, tmp_path):
    main, _ = servers
    subprocess.run(["make", "-s", "nextjs-deps"], cwd=ROOT, check=True)  # fills the npm cache
    assert not tmp_path.resolve().is_relative_to(ROOT)
    packed = json.loads(run(["npm", "pack", "--json", "--pack-destination", str(tmp_path)], PACKAGE))[0]
    files = sorted(f["path"] for f in packed["files"])
    assert files == PACKED_FILES, files

    app = tmp_path / "app"
    app.mkdir()
    write_consumer(app, tmp_path / packed["filename"])
    run(["npm", "ci", "--offline", "--cache", str(NPM_CACHE), "--no-audit", "--no-fund"], app)
    installed = app / "node_modules" / "flask-realtime-client"
    assert installed.is_dir() and not installed.is_symlink()
    (app / "check.mjs").write_text(IMPORT_CHECK)
    out = json.loads(run(["node", "check.mjs"], app, {"REALTIME_URL": main.url}).strip().splitlines()[-1])
    assert out["who"] == out["username"]
    assert out == {**out, "version": packed["version"], "sid": True, "dm": "dm.a.b", "terminal": True,
                   "retryable": True, "types": True}
