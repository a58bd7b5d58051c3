"""What the fault runs start and stop: the service as they run it, helper connections to
PostgreSQL, and PostgreSQL itself. The generic parts (servers, ports, databases) are
tooling/harness.py, shared with the benchmark.

Everything here is synchronous and bounded in time; the fault runs call it from a thread
(``asyncio.to_thread``) when load is running at the same time.
"""

import os
import subprocess
import time
from pathlib import Path

import psycopg

from tooling.harness import BIN, Server, free_port
from tooling.pgcluster import PgCluster

PG_HOST = "127.0.0.1"
# The server the fault runs work on: the machine's, until use_cluster() gives them their own
# (faults/run.py does when it may: root or the postgres user).
PG_PORT = 5432
CLUSTER: PgCluster | None = None
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


def pg_url(database: str, port: int | None = None) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{port or PG_PORT}/{database}"


def app_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any of the app's settings, plus ``settings``."""
    from infrastructure.settings import Settings

    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(settings)
    return env


# -- PostgreSQL -------------------------------------------------------------------------


def connect(database: str = "postgres", port: int | None = None) -> psycopg.Connection:
    """An autocommit helper connection (never counted as the service's)."""
    return psycopg.connect(
        host=PG_HOST,
        port=port or PG_PORT,
        user="postgres",
        dbname=database,
        autocommit=True,
        connect_timeout=3,
        application_name=HELPER_APP_NAME,
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


def use_cluster(cluster: PgCluster) -> None:
    """From now on the fault runs work on ``cluster`` (made for them; they may restart it)."""
    global CLUSTER, PG_PORT
    CLUSTER, PG_PORT = cluster, cluster.port


def wait_postgres_ready(timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        command = ["pg_isready", "-q", "-h", PG_HOST, "-p", str(PG_PORT), "-t", "1"]
        if subprocess.run(command, timeout=10).returncode == 0:
            return True
        time.sleep(0.2)
    return False


def restart_postgres() -> None:
    """``pg_ctlcluster ... restart -m fast`` of the fault runs' own cluster."""
    assert CLUSTER is not None, "the fault runs restart only a cluster of their own"
    CLUSTER.restart()


def ensure_postgres_running() -> None:
    """Start our cluster if a fault left it down; the machine's server is only waited for."""
    if wait_postgres_ready(timeout=5):
        return
    if CLUSTER is not None:
        CLUSTER.start()
    elif not wait_postgres_ready(timeout=60):
        raise RuntimeError(f"PostgreSQL on {PG_HOST}:{PG_PORT} is not running")


def can_control_cluster() -> bool:
    """Restarting PostgreSQL is allowed only on a cluster of our own."""
    return CLUSTER is not None


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


def service(
    database_url: str, workdir: Path, name: str, tuned: bool = True, **settings: str
) -> Server:
    """``conduit serve`` on a free port, its log ``workdir/server-<name>.log``; ``tuned``:
    with SERVICE_SETTINGS (else the service's own defaults), then ``settings``."""
    env = app_env(
        DATABASE_URL=database_url,
        JWT_SECRET=JWT_SECRET,
        **(SERVICE_SETTINGS if tuned else {}),
        **settings,
    )
    port = free_port()
    argv = [str(BIN / "conduit"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    # uvicorn's wait for in-flight requests is unbounded without it (fault 4 measures it).
    argv += ["--timeout-graceful-shutdown", "10"]
    return Server(
        f"the service ({name})",
        argv,
        env,
        workdir / f"server-{name}.log",
        port=port,
        ready_path="/health/ready",
        cwd=workdir,
    )
