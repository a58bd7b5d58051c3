"""What the benchmark and the fault runs start and stop: free ports, server processes and
daemons, PostgreSQL databases.

bench/run.py and faults/run.py are run as scripts (``python bench/run.py``): they put the
repository on ``sys.path`` first, then import this module. Everything here is synchronous
and bounded in time.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtual environment's: `conduit`, `ruff`, ...


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes() -> list[tuple[int, str, int, float]]:
    """(pid, command name, process group, CPU seconds) of every process, from /proc."""
    found = []
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime ...
        found.append(
            (int(entry), comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / ticks)
        )
    return found


class ServerError(RuntimeError):
    """A server did not start; the message has the end of its log."""


class Server:
    """A server process (``conduit serve``, a ceiling) in a session of its own, so that
    stopping it stops its workers too; ready once ``ready_path`` answers 2xx. It may be
    started again after ``stop``, on the same port."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        *,
        port: int,
        ready_path: str = "/",
        cwd: Path = REPO,
        host: str = "127.0.0.1",
    ) -> None:
        self.name = name
        self.host = host
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.port = port
        self.ready_path = ready_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with {self.process.returncode} before answering; "
                    f"its log: {self.log_path}\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + self.ready_path, timeout=2) as answer:
                    if 200 <= answer.status < 300:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise ServerError(
            f"{self.name} did not answer within {timeout:.0f} s; its log: {self.log_path}\n"
            f"{self.log_tail()}"
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pids(self) -> list[int]:
        """The server and its worker processes (its process group)."""
        if self.process is None:
            return []
        return [pid for pid, _comm, group, _cpu in processes() if group == self.process.pid]

    def kill(self) -> None:
        """SIGKILL to its process group: a host dying, nothing answered or cleaned up."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, grace: float = 15) -> tuple[int | None, float]:
        """SIGTERM to its process group, SIGKILL after ``grace`` seconds: (exit code, or
        None if it had to be killed; seconds it took)."""
        if self.process is None:
            return None, 0.0
        started = time.monotonic()
        code: int | None = self.process.returncode
        if self.process.poll() is None:
            group = self.process.pid  # a session of its own: the group id is its pid
            try:
                os.killpg(group, signal.SIGTERM)
                code = self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                self.process.wait(timeout=10)
                code = None
            except ProcessLookupError:
                code = self.process.wait(timeout=10)
        # Uvicorn's workers leave with their supervisor; make sure none is left behind.
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return code, time.monotonic() - started

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


# -- daemons (PgBouncer, nginx) ------------------------------------------------------------


def system_binary(name: str) -> str | None:
    """A daemon's binary: on the PATH, or where Debian puts it (not on a user's PATH)."""
    debian = Path("/usr/sbin") / name
    return shutil.which(name) or (str(debian) if debian.exists() else None)


def wait_listening(
    process: subprocess.Popen, port: int, timeout: float, log: Callable[[], str]
) -> None:
    """Until ``process`` accepts connections on ``port``; its ``log`` in the error if not."""
    name = Path(str(process.args[0] if isinstance(process.args, list) else process.args)).name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{name} exited at start:\n{log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise ServerError(f"{name} did not listen within {timeout} s:\n{log()}")


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Daemon:
    """A server started as a child process, in a temporary directory of its own."""

    log_files: tuple[str, ...] = ()  # in ``dir``

    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and remove its directory."""
        stop_process(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")
            for path in (self.dir / name for name in self.log_files)
            if path.exists()
        )


# -- PostgreSQL databases ------------------------------------------------------------------


def recreate_database(url: str) -> None:
    """Drop (ending its sessions) and create the database of the SQLAlchemy ``url``."""
    _on_server(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", "CREATE DATABASE {}")


def drop_database(url: str) -> None:
    _on_server(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)")


def _on_server(url: str, *statements: str) -> None:
    """``statements`` with the database's name, on the server's ``postgres`` database."""
    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as connection:
        for statement in statements:
            connection.execute(sql.SQL(statement).format(sql.Identifier(parsed.database or "")))
