"""Throwaway PostgreSQL clusters, made with Debian's cluster tools (``pg_createcluster``,
``pg_ctlcluster``, ``pg_basebackup``, ``pg_dropcluster``) on free ports: the fault runs'
server (which they restart at will) and ``make cluster``'s primary and streaming replica.
The machine's default cluster is never touched.

Needs root (or the postgres user). A cluster's name carries the id of the run that made it
(``conduit_<purpose>_<pid>_<role>``), so that concurrent runs never collide, and a later run
drops the clusters of runs that died without cleaning up (``drop_stale``).
"""

import os
import pwd
import random
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg

VERSION = "15"
HOST = "127.0.0.1"
PORTS = range(5441, 5500)
# What every cluster of ours runs with. A replica must have the primary's max_connections
# (or more), else it refuses to start. fsync off: these clusters never outlive the machine.
SETTINGS = {
    "fsync": "off",
    "max_connections": "200",
    "hot_standby": "on",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "wal_keep_size": "256MB",  # a replica stopped for a while catches up from the primary
}
STALE_NAME = re.compile(r"^conduit_[a-z]+_(\d+)_[a-z]+$")
HELPER_APP_NAME = "conduit-cluster-tools"


def can_make_clusters() -> bool:
    """pg_createcluster and pg_ctlcluster need root or the postgres user."""
    return os.geteuid() == 0 or pwd.getpwuid(os.geteuid()).pw_name == "postgres"


def _run(*argv: str, timeout: float = 120) -> str:
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {completed.returncode}:\n"
            f"{(completed.stdout + completed.stderr).strip()[-2000:]}"
        )
    return completed.stdout


def clusters() -> dict[str, dict[str, object]]:
    """pg_lsclusters' clusters of our version, by name."""
    import json

    found = json.loads(_run("pg_lsclusters", "--json") or "[]")
    return {str(c["cluster"]): c for c in found if str(c["version"]) == VERSION}


def _free_port() -> int:
    taken = {int(str(c["port"])) for c in clusters().values()}
    candidates = [p for p in PORTS if p not in taken]
    random.shuffle(candidates)  # two runs starting together rarely pick the same one
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port for a PostgreSQL cluster in {PORTS}")


def drop_stale() -> list[str]:
    """Drop our clusters whose run (the pid in their name) is gone; their names."""
    dropped = []
    for name in clusters():
        match = STALE_NAME.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _run("pg_dropcluster", "--stop", VERSION, name)
            dropped.append(name)
    return dropped


class PgCluster:
    """One cluster of ours: ``create`` a primary, ``replica`` a streaming standby of it."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port

    @classmethod
    def create(cls, purpose: str, role: str = "primary") -> "PgCluster":
        """A new cluster, started, with trust authentication on the loopback only."""
        cluster = cls(f"conduit_{purpose}_{os.getpid()}_{role}", _free_port())
        options = [f"--pgoption={name}={value}" for name, value in SETTINGS.items()]
        _run(
            "pg_createcluster", VERSION, cluster.name, "-p", str(cluster.port), *options,
            "--start", "--", "--auth=trust",
        )  # fmt: skip
        cluster.wait_ready()
        return cluster

    def replica(self, role: str = "replica") -> "PgCluster":
        """A streaming replica of this cluster (pg_basebackup -R), hot standby, started."""
        purpose = self.name.split("_")[1]
        standby = PgCluster(f"conduit_{purpose}_{os.getpid()}_{role}", _free_port())
        options = [f"--pgoption={name}={value}" for name, value in SETTINGS.items()]
        _run(
            "pg_createcluster", VERSION, standby.name, "-p", str(standby.port), *options,
            "--", "--auth=trust",
        )  # fmt: skip
        data = standby.data_directory
        shutil.rmtree(data)  # pg_basebackup fills an empty directory of its own
        data.mkdir(mode=0o700)
        shutil.chown(data, "postgres", "postgres")
        _run(
            "runuser", "-u", "postgres", "--", "pg_basebackup", "-h", HOST, "-p",
            str(self.port), "-U", "postgres", "-D", str(data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        standby.start()
        return standby

    @property
    def data_directory(self) -> Path:
        return Path(str(clusters()[self.name]["pgdata"]))

    def url(self, database: str, host: str = HOST, port: int | None = None) -> str:
        """The SQLAlchemy URL of ``database`` here (or through a pooler at host:port)."""
        return f"postgresql+psycopg://postgres@{host}:{port or self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """An autocommit helper connection."""
        return psycopg.connect(
            host=HOST,
            port=self.port,
            user="postgres",
            dbname=database,
            autocommit=True,
            connect_timeout=3,
            application_name=HELPER_APP_NAME,
        )

    # -- what an operator does with it ------------------------------------------------------

    def ready(self) -> bool:
        command = ["pg_isready", "-q", "-h", HOST, "-p", str(self.port), "-t", "1"]
        return subprocess.run(command, timeout=10).returncode == 0

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster {self.name} not ready within {timeout:.0f} s")
            time.sleep(0.2)

    def ctl(self, action: str, *options: str) -> None:
        _run("pg_ctlcluster", *options, VERSION, self.name, action)

    def start(self) -> None:
        self.ctl("start")
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """A clean stop (fast: sessions ended, a shutdown checkpoint streamed to replicas)."""
        self.ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.ctl("restart", "-m", mode)
        self.wait_ready()

    def promote(self) -> None:
        """A standby becomes a primary (the manual failover's step)."""
        self.ctl("promote")
        deadline = time.monotonic() + 60
        while True:
            with self.connect() as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row and not row[0]:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} still in recovery 60 s after promote")
            time.sleep(0.2)

    def checkpoint_location(self) -> str:
        """Its latest checkpoint's LSN (pg_controldata; after a clean stop: the shutdown
        checkpoint, the last WAL it wrote)."""
        binary = f"/usr/lib/postgresql/{VERSION}/bin/pg_controldata"
        for line in _run(binary, str(self.data_directory)).splitlines():
            if line.startswith("Latest checkpoint location:"):
                return line.split(":", 1)[1].strip()
        raise RuntimeError(f"pg_controldata of {self.name}: no latest checkpoint location")

    def ensure_running(self) -> None:
        if not self.ready():
            self.start()

    def drop(self) -> None:
        """Stop it and remove it (its data, configuration and log)."""
        if self.name in clusters():
            _run("pg_dropcluster", "--stop", VERSION, self.name)
