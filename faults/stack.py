"""What the fault runs start and stop: databases, the service, PgBouncer, PostgreSQL itself.

Everything here is synchronous and bounded in time; the fault runs call it from a thread
(``asyncio.to_thread``) when load is running at the same time.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
PG_HOST = "127.0.0.1"
PG_PORT = 5432
# Our own helper connections carry this name, so that checks on the service's backends
# (application_name 'conduit') never count them.
HELPER_APP_NAME = "conduit-faults"
JWT_SECRET = "faults-" + "x" * 48
METRICS_TOKEN = "faults-metrics-" + "m" * 32

# The service as the fault plan runs it: a small pool and short server-side timeouts, so
# that faults show up within seconds. Argon2 is cheap: password hashing is not under test,
# and at its production cost it would eat the two cores the load needs.
SERVICE_SETTINGS = {
    "POOL_SIZE": "5",
    "POOL_MAX_OVERFLOW": "0",
    "POOL_TIMEOUT": "2",
    # A request waits for an admission slot as long as for a connection: the fault runs
    # count an answer slower than load.CLIENT_TIMEOUT (10 s, the default here) as a hang.
    "ADMISSION_TIMEOUT_SECONDS": "2",
    "STATEMENT_TIMEOUT_MS": "2000",
    "LOCK_TIMEOUT_MS": "1000",
    "IDLE_IN_TRANSACTION_TIMEOUT_MS": "5000",
    "CONNECT_TIMEOUT_SECONDS": "2",
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST_KIB": "1024",
    "ARGON2_PARALLELISM": "1",
    "LOG_REQUESTS": "true",
    "METRICS_TOKEN": METRICS_TOKEN,  # the invariants read /metrics
    # The load registers and logs in many users from one address; faults that are about the
    # limits themselves pass their own.
    "AUTH_REQUESTS_PER_ADDRESS_PER_MINUTE": "0",
    "LOGIN_FAILURES_PER_ACCOUNT": "1000000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_url(database: str, port: int = PG_PORT) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{port}/{database}"


def app_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any of the app's settings, plus ``settings``."""
    from infrastructure.settings import Settings

    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(settings)
    return env


# -- PostgreSQL -------------------------------------------------------------------------


def connect(database: str = "postgres", port: int = PG_PORT) -> psycopg.Connection:
    """An autocommit helper connection (never counted as the service's)."""
    return psycopg.connect(
        host=PG_HOST,
        port=port,
        user="postgres",
        dbname=database,
        autocommit=True,
        connect_timeout=3,
        application_name=HELPER_APP_NAME,
    )


def recreate_database(name: str) -> None:
    with connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def service_backends(database: str, state: str | None = None) -> list[tuple[int, str, str]]:
    """(pid, application_name, state) of every backend on ``database`` but our helpers'."""
    query = (
        "SELECT pid, application_name, coalesce(state, '') FROM pg_stat_activity"
        " WHERE datname = %s AND application_name <> %s AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'"
    )
    params: list[object] = [database, HELPER_APP_NAME]
    if state is not None:
        query += " AND state LIKE %s"
        params.append(state + "%")
    with connect() as conn:
        return [(int(pid), name, st) for pid, name, st in conn.execute(query, params)]


def terminate_service_backends(database: str, only_idle: bool = False) -> int:
    """``pg_terminate_backend`` on the service's backends of ``database``; how many."""
    query = (
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = %s AND application_name = 'conduit'"
    )
    if only_idle:
        query += " AND state = 'idle'"
    with connect() as conn:
        row = conn.execute(query, [database]).fetchone()
    return int(row[0]) if row else 0


def postgres_cluster() -> tuple[str, str]:
    """(version, name) of the local cluster listening on ``PG_PORT``."""
    out = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == str(PG_PORT):
            return fields[0], fields[1]
    raise RuntimeError(f"no PostgreSQL cluster on port {PG_PORT} in pg_lsclusters:\n{out}")


def postgres_ready() -> bool:
    result = subprocess.run(
        ["pg_isready", "-q", "-h", PG_HOST, "-p", str(PG_PORT), "-t", "1"], timeout=10
    )
    return result.returncode == 0


def wait_postgres_ready(timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if postgres_ready():
            return True
        time.sleep(0.2)
    return False


def restart_postgres() -> None:
    """``pg_ctlcluster <version> <name> restart -m fast`` (the whole local server)."""
    version, name = postgres_cluster()
    subprocess.run(
        ["pg_ctlcluster", version, name, "restart", "-m", "fast"],
        check=True,
        timeout=120,
        capture_output=True,
    )


def ensure_postgres_running() -> None:
    """Start the local cluster if it is down; PostgreSQL must outlive the fault runs."""
    if wait_postgres_ready(timeout=5):
        return
    version, name = postgres_cluster()
    subprocess.run(["pg_ctlcluster", version, name, "start"], timeout=120, check=False)
    if not wait_postgres_ready(timeout=60):
        raise RuntimeError("PostgreSQL is not running and could not be started")


def can_control_cluster() -> bool:
    """pg_ctlcluster needs root or the cluster's owner."""
    return os.geteuid() == 0 or pwd.getpwuid(os.geteuid()).pw_name == "postgres"


# -- the service --------------------------------------------------------------------------


def conduit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start ``conduit <args>`` (a migrate, say) without waiting for it."""
    return subprocess.Popen(
        [str(BIN / "conduit"), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_all(processes: list[subprocess.Popen], timeout: float = 120) -> list[str]:
    """The output of each process once it exits; any still running after ``timeout`` is
    killed. Their exit codes are then in ``returncode``."""
    try:
        return [p.communicate(timeout=timeout)[0] for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def migrate(database_url: str, cwd: Path) -> None:
    env = app_env(DATABASE_URL=database_url, JWT_SECRET=JWT_SECRET)
    process = conduit("migrate", env=env, cwd=cwd)
    output, _ = process.communicate(timeout=120)
    if process.returncode != 0:
        raise RuntimeError(f"conduit migrate failed ({process.returncode}):\n{output}")


def graceful_shutdown_option() -> list[str]:
    """``--timeout-graceful-shutdown 10`` if ``conduit serve`` accepts it, else nothing."""
    help_text = subprocess.run(
        [str(BIN / "conduit"), "serve", "--help"], capture_output=True, text=True, timeout=30
    ).stdout
    if "--timeout-graceful-shutdown" in help_text:
        return ["--timeout-graceful-shutdown", "10"]
    return []


class Server:
    """``conduit serve`` on a free port, its output in ``log_path``."""

    def __init__(
        self, database_url: str, workdir: Path, name: str, tuned: bool = True, **settings: str
    ) -> None:
        """``tuned``: with SERVICE_SETTINGS (else the service's own defaults) and ``settings``."""
        self.env = app_env(
            DATABASE_URL=database_url,
            JWT_SECRET=JWT_SECRET,
            **(SERVICE_SETTINGS if tuned else {}),
            **settings,
        )
        self.workdir = workdir
        self.log_path = workdir / f"server-{name}.log"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.extra_args = graceful_shutdown_option()

    def start(self, timeout: float = 30) -> None:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                str(BIN / "conduit"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.extra_args,
            ],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the service was not ready within {timeout} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, grace: float = 15) -> tuple[int | None, float]:
        """SIGTERM, then SIGKILL after ``grace`` seconds: (exit code, seconds to exit)."""
        if self.process is None:
            return None, 0.0
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                return None, time.monotonic() - started
        return self.process.returncode, time.monotonic() - started

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


# -- PgBouncer ------------------------------------------------------------------------------


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
            raise RuntimeError(f"{name} exited at start:\n{log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen within {timeout} s:\n{log()}")


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def pgbouncer_binary() -> str | None:
    return system_binary("pgbouncer")


class Daemon:
    """A server the fault runs start as a child process, in a directory of its own."""

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


class PgBouncer(Daemon):
    """PgBouncer in transaction pooling mode in front of the local server.

    The app connects with ``options=-c statement_timeout=...`` (and psycopg sends
    ``extra_float_digits``); PgBouncer refuses unknown startup parameters, so both are
    ignored here, which means those server-side timeouts do not reach PostgreSQL.
    """

    IGNORED_STARTUP_PARAMETERS = "extra_float_digits,options"
    log_files = ("stdout.log", "pgbouncer.log")

    def __init__(self) -> None:
        # A directory of its own: PgBouncer runs as postgres, who cannot enter our 0700 one.
        super().__init__("conduit-faults-pgbouncer-")

    def start(self, timeout: float = 10) -> None:
        binary = pgbouncer_binary()
        assert binary is not None
        (self.dir / "users.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            f"""[databases]
* = host={PG_HOST} port={PG_PORT}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir / "users.txt"}
pool_mode = transaction
ignore_startup_parameters = {self.IGNORED_STARTUP_PARAMETERS}
max_client_conn = 300
default_pool_size = 20
logfile = {self.dir / "pgbouncer.log"}
"""
        )
        user: str | None = None
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            user = "postgres"
            shutil.chown(self.dir, user)
            for path in self.dir.iterdir():
                shutil.chown(path, user)
        with (self.dir / "stdout.log").open("w") as output:
            self.process = subprocess.Popen(
                [binary, str(self.dir / "pgbouncer.ini")],
                user=user,
                group=user,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_listening(self.process, self.port, timeout, self.log_text)
