"""Real redis-server, PostgreSQL and nginx for tests: loopback, free ports, data in temp dirs.

A missing binary is an error, never a skip: the scale-out tests must run where they are asked to.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(binary: str) -> str:
    """The path of a binary, or a RuntimeError naming it (tests fail, they do not skip)."""
    path = binary if os.path.isabs(binary) and os.access(binary, os.X_OK) else shutil.which(binary)
    if not path:
        raise RuntimeError(f"{binary} is not installed: run `make sysdeps` (scripts/sysdeps.sh)")
    return path


def wait_port(port: int, timeout: float = 15.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class RedisServer:
    """A throwaway redis-server (no persistence: a restart loses every key, like a new host)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = need("redis-server")
        self.workdir, self.port = workdir, port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.extra: list[str] = []  # more redis-server options (a cluster node's)

    def start(self) -> RedisServer:
        """Start and wait for PING."""
        with open(self.workdir / f"redis-{self.port}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no", *self.extra],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Stop it and wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def restart(self) -> None:
        """Stop and start again on the same port (all keys are gone)."""
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        """A plain client (strings decoded)."""
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 40000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisCluster:
    """A real Redis Cluster on loopback: `masters` masters, one replica each, created with redis-cli.

    The node timeout is short (1 s), so a killed master's replica takes over within seconds.
    """

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.cli = need("redis-cli")
        self.workdir = workdir
        self.nodes = [RedisServer(workdir, _cluster_port()) for _ in range(masters * 2)]
        self.masters = masters
        self.url = f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> RedisCluster:
        """Start every node, join them into one cluster and wait until every slot is served."""
        for node in self.nodes:
            node.extra = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{node.port}.conf",
                          "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0"]
            node.start()
        subprocess.run([self.cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes],
                        "--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        self.wait_ok()
        return self

    def wait_ok(self, timeout: float = 30.0, exclude: RedisServer | None = None) -> None:
        """Until every live node reports cluster_state:ok and all 16384 slots assigned."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                infos = [n.client().cluster("info") for n in self.nodes if n is not exclude and n.alive()]
                if infos and all(i["cluster_state"] == "ok" and int(i["cluster_slots_ok"]) == 16384 for i in infos):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not become ready")

    def master_of(self, key: str) -> RedisServer:
        """The node serving a key's (or a sharded channel's) slot now."""
        slot = redis.cluster.key_slot(key.encode())
        for node in self.nodes:
            if not node.alive():
                continue
            for start, end, master, *_ in node.client().cluster("slots"):
                if start <= slot <= end:
                    port = int(master[1])
                    return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no node serves slot {slot}")

    def kill(self, node: RedisServer) -> None:
        """SIGKILL a node (a crashed host): its replica must take over."""
        assert node.proc is not None
        node.proc.kill()
        node.proc.wait(10)

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


class Postgres:
    """A throwaway PostgreSQL cluster run as the postgres user (initdb refuses root)."""

    def __init__(self, port: int | None = None) -> None:
        for tool in ("initdb", "pg_ctl"):
            need(str(PG_BIN / tool))
        self.port = port or free_port()
        # Not under pytest's tmp dir: its parents are private to root and postgres could not enter.
        self.dir = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.dir / "data"

    def _run(self, *cmd: str) -> None:
        line = " ".join(cmd)
        if os.geteuid() == 0:
            args = ["su", "postgres", "-s", "/bin/sh", "-c", line]
        else:
            args = ["sh", "-c", line]
        subprocess.run(args, check=True, capture_output=True, timeout=60)

    def start(self) -> Postgres:
        """initdb, start, wait."""
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server on its existing data (after `pause`) and wait until it accepts connections."""
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "pg.log"),
                  "-o", f"'{opts}'", "-w", "start")

    def pause(self) -> None:
        """Stop the server at once, keeping its data: an outage that `resume` ends."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_db(self, name: str) -> str:
        """Create a database; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def dsn(self, name: str) -> str:
        """A libpq connection string for a database."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={name}"

    def stop(self) -> None:
        """Stop at once and delete the data."""
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def render_nginx(template: Path, *, listen: str, upstreams: list[str], run_dir: Path) -> str:
    """The nginx config from deploy/nginx.conf.template."""
    servers = "\n".join(f"        server {u};" for u in upstreams)
    return (template.read_text().replace("@LISTEN@", listen).replace("@UPSTREAM_SERVERS@", servers)
            .replace("@RUN_DIR@", str(run_dir)))


class Nginx:
    """nginx in front of app servers, from the deploy template, in the foreground."""

    def __init__(self, workdir: Path, upstreams: list[str], port: int | None = None) -> None:
        self.binary = need("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "nginx")
        self.workdir, self.port = workdir, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(render_nginx(ROOT / "deploy/nginx.conf.template", listen=f"127.0.0.1:{self.port}",
                                          upstreams=upstreams, run_dir=workdir))
        self.proc: subprocess.Popen | None = None

    def start(self) -> Nginx:
        """Check the config, start, wait for the port."""
        test = subprocess.run([self.binary, "-t", "-p", str(self.workdir), "-c", str(self.conf)],
                              capture_output=True, text=True)
        if test.returncode:
            raise RuntimeError(f"nginx config refused: {test.stderr}")
        with open(self.workdir / "nginx.err", "ab") as err:
            self.proc = subprocess.Popen([self.binary, "-p", str(self.workdir), "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=err)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        """Quick shutdown (SIGTERM) and wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
