"""Fault 7: PgBouncer in transaction pooling mode in front of the local server."""

import asyncio
import os
import shutil
import subprocess
import time

import stack
from invariants import Check
from plan import Result, Run, Target, last_error_line

from tooling.harness import BIN, REPO, Daemon, stop_process, system_binary, wait_listening


def pgbouncer_binary() -> str | None:
    return system_binary("pgbouncer")


class PgBouncer(Daemon):
    """PgBouncer in transaction pooling mode in front of the fault runs' server (or of
    ``server_port``), listening on ``listen`` (comma-separated addresses) and a free port.

    The app connects with ``options=-c statement_timeout=...`` (and psycopg sends
    ``extra_float_digits``); PgBouncer refuses unknown startup parameters, so both are
    ignored here, which means those server-side timeouts do not reach PostgreSQL.
    """

    IGNORED_STARTUP_PARAMETERS = "extra_float_digits,options"
    log_files = ("stdout.log", "pgbouncer.log")

    def __init__(
        self, server_port: int | None = None, listen: str = "127.0.0.1", pool_size: int = 20
    ) -> None:
        # A directory of its own: PgBouncer runs as postgres, who cannot enter our 0700 one.
        super().__init__("conduit-faults-pgbouncer-")
        self.server_port = server_port
        self.listen = listen
        self.pool_size = pool_size

    def restart(self, server_port: int | None = None) -> None:
        """Stop it (its clients' connections drop) and start it again on the same port,
        in front of ``server_port`` if given (a failover re-points it there)."""
        stop_process(self.process)
        self.server_port = server_port or self.server_port
        self.start()

    def start(self, timeout: float = 10) -> None:
        binary = pgbouncer_binary()
        assert binary is not None
        (self.dir / "users.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            f"""[databases]
* = host={stack.PG_HOST} port={self.server_port or stack.PG_PORT}

[pgbouncer]
listen_addr = {self.listen}
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir / "users.txt"}
pool_mode = transaction
ignore_startup_parameters = {self.IGNORED_STARTUP_PARAMETERS}
max_client_conn = 300
default_pool_size = {self.pool_size}
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


async def fault_7_pgbouncer(run: Run) -> list[Result]:
    """PgBouncer in transaction pooling mode: migrations, the service under load and the API
    tests through it, with psycopg's prepared statements off (DB_PREPARED_STATEMENTS=false)."""
    names = ("7a API tests via PgBouncer", "7b load via PgBouncer", "7c migrate via PgBouncer")
    if pgbouncer_binary() is None:
        hint = "pgbouncer is not installed (Debian: apt-get install -y pgbouncer)"
        print(f"fault 7 skipped: {hint}")
        return [Result(name, skipped=hint) for name in names]
    tests, load, migrations = (Result(name) for name in names)
    bouncer = PgBouncer()
    run.daemons.append(bouncer)
    bouncer.start()
    try:
        await asyncio.to_thread(_pgbouncer_migrations, run, bouncer, migrations)
        await _pgbouncer_load(run, bouncer, load)
        await asyncio.to_thread(_pgbouncer_tests, run, bouncer, tests)
    finally:
        bouncer.stop()
    return [tests, load, migrations]


def _pgbouncer_migrations(run: Run, bouncer: PgBouncer, result: Result) -> None:
    """Migrations through PgBouncer: the advisory lock must not outlive `conduit migrate`
    (else a later migration, with or without PgBouncer, waits for it and fails)."""
    started = time.monotonic()
    database = run.new_database("_pgb_migrate")
    env = stack.app_env(
        DATABASE_URL=stack.pg_url(database, bouncer.port), JWT_SECRET=stack.JWT_SECRET
    )
    processes = [stack.conduit("migrate", env=env, cwd=run.workdir) for _ in range(3)]
    outputs = stack.wait_all(processes)
    codes = [p.returncode for p in processes]
    with stack.connect(database) as conn:
        held = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND a.datname = current_database()"
        ).fetchone()
    direct = stack.conduit(
        "migrate",
        env=stack.app_env(DATABASE_URL=stack.pg_url(database), JWT_SECRET=stack.JWT_SECRET),
        cwd=run.workdir,
    )
    [direct_output] = stack.wait_all([direct])
    held_count = held[0] if held else -1
    result.checks["fault"] = Check(
        codes == [0, 0, 0] and held_count == 0 and direct.returncode == 0,
        f"3 concurrent migrate via PgBouncer exit {codes}; advisory locks still held by idle "
        f"server connections: {held_count}; a direct migrate afterwards exits "
        f"{direct.returncode}",
    )
    for output, code in [*zip(outputs, codes, strict=True), (direct_output, direct.returncode)]:
        if code:
            result.notes.append(last_error_line(output))
    result.seconds = time.monotonic() - started


async def _pgbouncer_load(run: Run, bouncer: PgBouncer, result: Result) -> None:
    """The service through PgBouncer under load: no prepared-statement errors, no 500s."""
    from infrastructure.engine import create_db_engine
    from infrastructure.settings import Settings

    started = time.monotonic()
    database = run.new_database("_pgb")
    await asyncio.to_thread(stack.migrate, stack.pg_url(database), run.workdir)
    url = stack.pg_url(database, bouncer.port)

    # What the app's connect-time options become through PgBouncer.
    settings = Settings(
        database_url=url,
        jwt_secret=stack.JWT_SECRET,
        db_prepared_statements=False,
        statement_timeout_ms=int(stack.SERVICE_SETTINGS["STATEMENT_TIMEOUT_MS"]),
    )
    engine = create_db_engine(settings)
    try:
        with engine.connect() as conn:
            timeout = conn.exec_driver_sql("SHOW statement_timeout").scalar_one()
            idle = conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar_one()
    finally:
        engine.dispose()
    if timeout in ("0", "0ms"):
        result.notes.append(
            f"WARNING: through PgBouncer the app's server-side timeouts do not apply "
            f"(statement_timeout {timeout}, idle_in_transaction_session_timeout {idle}): "
            "PgBouncer drops the `options` startup parameter (ignore_startup_parameters)"
        )

    server = await asyncio.to_thread(
        run.new_server, url, "pgbouncer", DB_PREPARED_STATEMENTS="false"
    )
    target = Target(database, server, max_backends=None)
    try:
        await run.populate(target)
        driver = target.driver(seed=77)
        try:
            await run.with_load(target, driver, lambda: asyncio.sleep(run.profile.fault_seconds))
            result.checks = await run.check(target, driver)
        finally:
            await driver.close()
    finally:
        server.stop()
    log = server.log_text()
    prepared = [line for line in log.splitlines() if "prepared statement" in line.lower()]
    errors = run.server_errors(server)
    result.checks["fault"] = Check(
        not prepared and not errors,
        f"{len(prepared)} prepared-statement errors, {len(errors)} 500s/tracebacks in the log",
    )
    result.notes += [*prepared[:2], *errors[:2]]
    result.load = driver.stats.summary()
    result.seconds = time.monotonic() - started


def _pgbouncer_tests(run: Run, bouncer: PgBouncer, result: Result) -> None:
    """The API tests (their PostgreSQL half) with TEST_DATABASE_URL through PgBouncer."""
    started = time.monotonic()
    database = run.new_database("_pgb_test")
    selection = ["tests/api", "-m", "postgres"]
    if run.profile.short:
        selection += ["-k", "articles"]
    env = stack.app_env(
        TEST_DATABASE_URL=stack.pg_url(database, bouncer.port),
        DB_PREPARED_STATEMENTS="false",
        CI="true",
    )
    completed = subprocess.run(
        [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = completed.stdout + completed.stderr
    summary = output.strip().splitlines()[-1] if output.strip() else "no output"
    prepared = output.lower().count("prepared statement")
    result.checks["fault"] = Check(
        completed.returncode == 0 and prepared == 0,
        f"pytest {' '.join(selection)}: {summary}; prepared-statement errors: {prepared}",
    )
    if completed.returncode != 0:
        result.notes += [line for line in output.splitlines() if line.startswith("FAILED")][:5]
    result.seconds = time.monotonic() - started
