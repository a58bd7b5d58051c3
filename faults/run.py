"""Slow fault runs: the service under load while its database fails in the ways it will.

    .venv/bin/python faults/run.py [--short] [--only 1,2,...]

Starts what it needs (its own databases, ``conduit migrate``, ``conduit serve`` on a free
port, PgBouncer), drives a mix of reads and writes with its own asyncio client, injects
each fault for a bounded time, then checks the invariants and prints a table:

  I1 no leaks: nothing checked out, sessions opened == closed, no backend idle in a transaction
  I2 nothing lost: every acknowledged write is stored with the values returned
  I3 no half-writes: articles with all their tags, favorites_count == rows, no orphans
  I4 no duplicates: unique keys hold and no write was stored twice
  I5 still answers: a burst right after the fault is >= 99% 2xx within 5 s, and no answer
     was other than 2xx or 503 (any 500 fails), and none hung

Faults: 1 PostgreSQL restarted, 2 backends terminated, 3 clients disconnecting mid-request,
4 SIGTERM to the service, 5 conflicting writes (deadlocks/serialization failures),
6 concurrent and lock-blocked migrations, 7 PgBouncer in transaction pooling mode,
8 hostile clients (faults/attacks.py: slow bodies, idle sockets, a huge header, a burst of
registrations, a login flood) against the service on its default settings, directly and
through the repository's nginx config (deploy/nginx/conduit.conf).

Restarting PostgreSQL (fault 1) restarts the whole local server: run it where that is fine.
Exits non-zero if any check fails; a fault that cannot run here is "skipped".
"""

import argparse
import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import attacks
import front
import invariants
import stack
from invariants import Check
from load import Ledger, LoadDriver, User, last_record, new_title, success_ratio


@dataclass(frozen=True)
class Profile:
    short: bool
    fault_seconds: float  # how long load runs around each fault
    load_users: int  # one load worker per user
    storm_users: int
    storm_writes: int  # aborted writes in fault 3
    migrators: int  # concurrent `conduit migrate` in fault 6


SHORT = Profile(True, fault_seconds=8, load_users=12, storm_users=12, storm_writes=300, migrators=3)
FULL = Profile(
    False, fault_seconds=40, load_users=20, storm_users=20, storm_writes=1000, migrators=5
)
BURST_REQUESTS = 200
BURST_CONCURRENCY = 10
POOL_SIZE = int(stack.SERVICE_SETTINGS["POOL_SIZE"])
LOCK_TIMEOUT_MS = 1000


@dataclass
class Result:
    fault: str
    seconds: float = 0.0
    load: dict[str, int] | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def failed(self) -> bool:
        return any(not c.ok and not c.skipped for c in self.checks.values())


@dataclass
class Target:
    """One database with the service in front of it, and what was written to it."""

    database: str
    server: stack.Server
    ledger: Ledger = field(default_factory=Ledger)
    users: list[User] = field(default_factory=list)
    storm_users: list[User] = field(default_factory=list)
    max_backends: int | None = POOL_SIZE + 1  # the pool and the readiness probe's connection
    log_mark: int = 0  # where the current fault's part of the service log begins

    def driver(self, seed: int = 0) -> LoadDriver:
        """A new client for a new fault; the service log from here on is that fault's."""
        self.log_mark = len(self.server.log_text())
        return LoadDriver(self.server.base_url, self.ledger, seed)


class Run:
    def __init__(self, profile: Profile, prefix: str, workdir: Path) -> None:
        self.profile = profile
        self.prefix = prefix
        self.workdir = workdir
        self.databases: list[str] = []
        self.servers: list[stack.Server] = []
        self.bouncers: list[stack.PgBouncer] = []
        self.fronts: list[front.Nginx] = []

    # -- what a fault needs -----------------------------------------------------------------

    def new_database(self, suffix: str = "") -> str:
        name = self.prefix + suffix
        stack.recreate_database(name)
        self.databases.append(name)
        return name

    def new_server(self, database_url: str, name: str, **settings: str) -> stack.Server:
        server = stack.Server(database_url, self.workdir, name, **settings)
        self.servers.append(server)
        server.start()
        return server

    async def populate(self, target: Target) -> None:
        """Users for the load and the storms; an article each, so reads have something."""
        driver = target.driver(seed=1)
        try:
            for users, count in (
                (target.users, self.profile.load_users),
                (target.storm_users, self.profile.storm_users),
            ):
                while len(users) < count:
                    user = await driver.register()
                    if user is None:
                        raise RuntimeError(f"could not register: {driver.stats.others()}")
                    users.append(user)
            for user in target.users:
                await driver.create_article(user)
        finally:
            await driver.close()

    async def with_load(
        self, target: Target, driver: LoadDriver, fault: Callable[[], Awaitable[None]]
    ) -> None:
        """Run ``fault`` while the load users hammer the service; stop the load after it."""
        stop = asyncio.Event()
        load = asyncio.create_task(driver.mixed_load(target.users, stop))
        try:
            await fault()
        finally:
            stop.set()
            await load

    async def check(
        self, target: Target, driver: LoadDriver, net_expected: bool = False
    ) -> dict[str, Check]:
        """I1..I5 after a fault: a burst at once, then (after a drain) leaks, then the
        database against the ledger."""
        server, database = target.server, target.database
        started = time.monotonic()
        burst = await driver.burst(target.users, BURST_REQUESTS, BURST_CONCURRENCY)
        elapsed = time.monotonic() - started
        summary = driver.stats.summary()
        ratio = success_ratio(burst)
        i5_ok = (
            ratio >= 0.99
            and elapsed <= 5
            and summary["other"] == 0
            and summary["hung"] == 0
            and (net_expected or summary["net"] == 0)
        )
        detail = f"burst {ratio:.1%} 2xx in {elapsed:.1f} s"
        unexpected = driver.stats.others(net=not net_expected)
        if unexpected:
            detail += f"; unexpected: {dict(unexpected.most_common(4))}"
            log = server.log_text()[target.log_mark :]
            detail += "".join(f"; log: {e}" for e in exceptions_in(log)[:3])
        i5 = Check(i5_ok, detail)
        i1 = await asyncio.to_thread(
            invariants.no_leaks, server.base_url, database, target.max_backends
        )

        def database_checks() -> tuple[Check, Check, Check]:
            with stack.connect(database) as conn:
                snap = invariants.snapshot(conn)
                return (
                    invariants.nothing_lost(snap, target.ledger, server.base_url),
                    invariants.no_half_writes(conn, snap, target.ledger),
                    invariants.no_duplicates(conn),
                )

        i2, i3, i4 = await asyncio.to_thread(database_checks)
        return {"I1": i1, "I2": i2, "I3": i3, "I4": i4, "I5": i5}

    def server_errors(self, server: stack.Server, since: int = 0) -> list[str]:
        """500s and exceptions in the service's log (from character ``since`` on)."""
        log = server.log_text()[since:]
        errors = log.count('"status": 500')
        return ([f"{errors} answers 500 in the service log"] if errors else []) + exceptions_in(log)


EXCEPTION_LINE = re.compile(r"^[a-z_.]+\.[A-Za-z]*(Error|Exception|Shutdown)\b.*", re.MULTILINE)


def exceptions_in(log: str) -> list[str]:
    """The distinct exceptions (last lines of tracebacks) in a service log."""
    return list(dict.fromkeys(m.group(0)[:160] for m in EXCEPTION_LINE.finditer(log)))


# -- the faults -------------------------------------------------------------------------------


async def fault_1_postgres_restart(run: Run, target: Target) -> list[Result]:
    """PostgreSQL restarted (fast) under load: in-flight requests get 503, and within 5 s of
    the database being back >= 99% succeed, without restarting the service."""
    result = Result("1 PostgreSQL restart")
    if not stack.can_control_cluster():
        result.skipped = "needs root or the postgres user to run pg_ctlcluster"
        return [result]
    driver = target.driver(seed=11)
    pid = target.server.pid
    moments: dict[str, float] = {}

    async def restart() -> None:
        await asyncio.sleep(run.profile.fault_seconds * 0.25)
        moments["down"] = time.monotonic()
        try:
            await asyncio.to_thread(stack.restart_postgres)
        finally:
            if not await asyncio.to_thread(stack.wait_postgres_ready, 60):
                raise RuntimeError("PostgreSQL did not come back within 60 s")
        moments["back"] = time.monotonic()
        # Long enough after the recovery to measure the 5 s promise on a real sample.
        await asyncio.sleep(max(run.profile.fault_seconds * 0.75, 5 + 5))

    started = time.monotonic()
    try:
        await run.with_load(target, driver, restart)
        result.checks = await run.check(target, driver)
    finally:
        await driver.close()
    back = moments["back"]
    after = driver.stats.since(back + 5)
    ratio = success_ratio(after)
    first_ok = next(
        (r.finished - back for r in driver.stats.since(back) if r.status and r.status < 300), None
    )
    same = target.server.alive() and target.server.pid == pid
    errors = run.server_errors(target.server, target.log_mark)
    result.checks["fault"] = Check(
        ratio >= 0.99 and same and not errors,
        f"{ratio:.1%} of {len(after)} requests 2xx from 5 s after recovery; same process: {same}",
    )
    result.notes += [
        f"restart took {back - moments['down']:.1f} s; first 2xx {first_ok or float('nan'):.2f} s "
        f"after PostgreSQL answered again",
        *errors[:3],
    ]
    result.load = driver.stats.summary()
    result.seconds = time.monotonic() - started
    return [result]


async def fault_2_terminate_backends(run: Run, target: Target) -> list[Result]:
    """pg_terminate_backend on every backend of the service, repeatedly, under load: only the
    requests those backends were serving fail (503); the next ones succeed."""
    result = Result("2 backends terminated")
    driver = target.driver(seed=22)
    rounds = 3 if run.profile.short else 8
    interval = run.profile.fault_seconds / (rounds + 1)
    killed = [0]

    async def terminate() -> None:
        for _ in range(rounds):
            await asyncio.sleep(interval)
            killed[0] += await asyncio.to_thread(stack.terminate_service_backends, target.database)
        await asyncio.sleep(interval)

    started = time.monotonic()
    try:
        await run.with_load(target, driver, terminate)
        fault_window = list(driver.stats.records)
        result.checks = await run.check(target, driver)
    finally:
        await driver.close()
    failed = [r for r in fault_window if r.status is None or not 200 <= r.status < 300]
    result.checks["fault"] = Check(
        len(failed) <= killed[0],
        f"{len(failed)} requests failed, {killed[0]} backends terminated in {rounds} rounds "
        "(at most one in-flight request per backend may fail)",
    )
    result.load = driver.stats.summary()
    result.seconds = time.monotonic() - started
    return [result]


async def fault_3_client_disconnects(run: Run, target: Target) -> list[Result]:
    """Hundreds of writes whose client gives up after 1-50 ms, alongside the usual load:
    nothing stays checked out or idle in a transaction, and each aborted write is all there
    or not there at all."""
    result = Result("3 client disconnects")
    driver = target.driver(seed=33)
    rng = driver.rng
    aborted_titles: list[str] = []

    # Spread the aborted writes over the fault's time, beside the usual load.
    pause = len(target.storm_users) * run.profile.fault_seconds / run.profile.storm_writes

    async def storm() -> None:
        remaining = [run.profile.storm_writes]

        async def worker(user: User) -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await asyncio.sleep(rng.uniform(0, pause))
                abort_after = rng.uniform(0.001, 0.050)
                slugs = target.ledger.slugs()
                choice = rng.random()
                if choice < 0.5:
                    title = new_title()
                    await driver.create_article(user, abort_after=abort_after, title=title)
                    last = last_record()
                    if last is not None and last.aborted:
                        aborted_titles.append(title)
                elif choice < 0.75:
                    await driver.comment(user, rng.choice(slugs), abort_after=abort_after)
                else:
                    slug = rng.choice(slugs)
                    current = target.ledger.favorites.get((user.username, slug))
                    await driver.favorite(user, slug, not current, abort_after=abort_after)

        await asyncio.sleep(1)
        await asyncio.gather(*(worker(user) for user in target.storm_users))
        await asyncio.sleep(1)

    started = time.monotonic()
    try:
        await run.with_load(target, driver, storm)
        result.checks = await run.check(target, driver, net_expected=True)
    finally:
        await driver.close()
    aborted = [r for r in driver.stats.records if r.aborted]
    handled = set(REQUEST_ID.findall(target.server.log_text()[target.log_mark :]))
    reached = sum(1 for r in aborted if r.request_id in handled)
    with stack.connect(target.database) as conn:
        stored = {title for (title,) in conn.execute("SELECT title FROM articles")}
    present = sum(1 for title in aborted_titles if title in stored)
    result.checks["fault"] = Check(
        # Enough aborts, and enough of them while the service was at work, to mean something.
        len(aborted) >= run.profile.storm_writes // 4 and reached >= run.profile.storm_writes // 20,
        f"{len(aborted)} of {run.profile.storm_writes} writes aborted by the client, {reached} "
        f"of them after the service had begun them; of "
        f"{len(aborted_titles)} aborted article creations {present} are stored (all tags "
        f"checked by I3), {len(aborted_titles) - present} absent",
    )
    result.load = driver.stats.summary()
    result.seconds = time.monotonic() - started
    return [result]


REQUEST_ID = re.compile(r'"request_id": "([0-9a-f]+)"')


@dataclass
class Shutdown:
    signalled: float = 0.0
    exit_code: int | None = None
    seconds: float = 0.0
    backends_after: int = -1


async def fault_4_sigterm(run: Run, target: Target) -> list[Result]:
    """SIGTERM to the service under load: requests in flight are answered, the lifespan
    disposes of the engine, and PostgreSQL sees no connection of the service afterwards.
    The service is started again for the faults after this one."""
    result = Result("4 SIGTERM under load")
    driver = target.driver(seed=44)
    server = target.server
    shutdown = Shutdown()

    async def sigterm() -> None:
        await asyncio.sleep(run.profile.fault_seconds * 0.5)
        shutdown.signalled = time.monotonic()
        shutdown.exit_code, shutdown.seconds = await asyncio.to_thread(server.terminate, 15)
        # The backends end as their sockets close; give PostgreSQL a moment to notice.
        deadline = time.monotonic() + 2
        while True:
            backends = await asyncio.to_thread(stack.service_backends, target.database)
            if not backends or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        shutdown.backends_after = len(backends)
        await asyncio.sleep(1)  # the load meets a closed port meanwhile

    started = time.monotonic()
    try:
        await run.with_load(target, driver, sigterm)
        log = server.log_text()[target.log_mark :]
        await asyncio.to_thread(server.start)  # the same port: the driver carries on
        result.checks = await run.check(target, driver, net_expected=True)
    finally:
        await driver.close()
    # In flight: the service had begun it (it logs every request it handles, with the
    # client's X-Request-ID) and it was not over when the signal came. Each must be answered.
    handled = set(REQUEST_ID.findall(log))
    in_flight = [
        r
        for r in driver.stats.records
        if r.request_id in handled and r.started < shutdown.signalled < r.finished
    ]
    dropped = [r for r in in_flight if r.status is None]
    complete = "Application shutdown complete" in log
    # uvicorn re-raises the signal after a graceful shutdown: the exit status says SIGTERM.
    result.checks["fault"] = Check(
        shutdown.exit_code in (0, -signal.SIGTERM)
        and shutdown.seconds < 15
        and not dropped
        and complete
        and shutdown.backends_after == 0,
        f"exit {shutdown.exit_code} {shutdown.seconds:.1f} s after SIGTERM; "
        f"{len(in_flight) - len(dropped)} of {len(in_flight)} in-flight requests answered; "
        f"lifespan shutdown complete: {complete}; service backends after exit: "
        f"{shutdown.backends_after}",
    )
    if not server.extra_args:
        result.notes.append(
            "`conduit serve` has no --timeout-graceful-shutdown: uvicorn waits without bound "
            "for in-flight requests (bounded here only by POOL_TIMEOUT and statement_timeout)"
        )
    result.load = driver.stats.summary()
    result.seconds = time.monotonic() - started
    return [result]


async def fault_5_conflicts(run: Run, target: Target) -> list[Result]:
    """A storm of favorite/unfavorite on one article by many users while its author edits it,
    first at READ COMMITTED, then with the database's default isolation SERIALIZABLE so that
    PostgreSQL aborts the losers (40001): the whole use case is retried, favorites_count
    stays equal to the rows, and nothing answers 500."""
    result = Result("5 conflicting writes")
    driver = target.driver(seed=55)
    author = target.users[0]
    serializable = "ALTER DATABASE {db} SET default_transaction_isolation = 'serializable'"

    async def storm(seconds: float) -> float:
        before = _metric(target.server, "conduit_db_conflicts_total")
        stop = asyncio.Event()

        async def toggler(user: User) -> None:
            while not stop.is_set():
                current = target.ledger.favorites.get((user.username, hot))
                await driver.favorite(user, hot, not current)

        async def editor() -> None:
            while not stop.is_set():
                await driver.update_body(author, hot)

        tasks = [asyncio.create_task(toggler(u)) for u in target.storm_users]
        tasks.append(asyncio.create_task(editor()))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        return _metric(target.server, "conduit_db_conflicts_total") - before

    def set_isolation(statement: str) -> None:
        with stack.connect() as conn:
            conn.execute(statement.format(db=f'"{target.database}"'))
        # Pooled connections keep the isolation they started with: end the idle ones (the
        # storm is paused). The pool replaces them: pinged if idle over
        # POOL_PING_IDLE_SECONDS, else the first use fails and renews the whole pool.
        stack.terminate_service_backends(target.database, only_idle=True)

    started = time.monotonic()
    half = run.profile.fault_seconds / 2
    try:
        hot = await driver.create_article(author)
        assert hot is not None, "could not create the hot article"
        conflicts_rc = await storm(half)
        await asyncio.to_thread(set_isolation, serializable)
        try:
            conflicts_serializable = await storm(half)
        finally:
            await asyncio.to_thread(
                set_isolation, "ALTER DATABASE {db} RESET default_transaction_isolation"
            )
        storm_records = [r for r in driver.stats.records if r.kind in ("favorite", "unfavorite")]
        result.checks = await run.check(target, driver)
    finally:
        await driver.close()
    exhausted = sum(1 for r in storm_records if r.status == 503)
    with stack.connect(target.database) as conn:
        row = conn.execute(
            "SELECT favorites_count, (SELECT count(*) FROM favorites f WHERE f.article_id = a.id)"
            " FROM articles a WHERE slug = %s",
            [hot],
        ).fetchone()
    assert row is not None
    result.checks["fault"] = Check(
        conflicts_serializable > 0 and row[0] == row[1],
        f"conflicts retried: {conflicts_rc:.0f} at READ COMMITTED, {conflicts_serializable:.0f} "
        f"at SERIALIZABLE; {exhausted} of {len(storm_records)} favorite toggles gave up (503); "
        f"hot article favorites_count {row[0]} = {row[1]} rows",
    )
    result.load = driver.stats.summary()
    result.seconds = time.monotonic() - started
    return [result]


def _metric(server: stack.Server, name: str) -> float:
    return invariants.scrape_metrics(server.base_url).get(name, 0.0)


def fault_6_migrations(run: Run) -> list[Result]:
    """Several `conduit migrate` at once on an empty database: all succeed, the schema is
    migrated once. Then a migration that needs a lock held by live traffic fails within
    lock_timeout, through alembic/env.py itself (with a throwaway revision)."""
    from alembic.script import ScriptDirectory

    from infrastructure.migrations import alembic_config
    from infrastructure.orm import metadata

    concurrent = Result(f"6a {run.profile.migrators} concurrent migrate")
    blocked = Result("6b migrate blocked by a lock")
    started = time.monotonic()
    database = run.new_database("_migrate")
    url = stack.pg_url(database)
    env = stack.app_env(DATABASE_URL=url, JWT_SECRET=stack.JWT_SECRET)
    processes = [
        stack.conduit("migrate", env=env, cwd=run.workdir) for _ in range(run.profile.migrators)
    ]
    outputs = stack.wait_all(processes)
    codes = [p.returncode for p in processes]
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with stack.connect(database) as conn:
        versions = [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]
        tables = {t for (t,) in conn.execute("SELECT tablename FROM pg_tables")}
    missing = set(metadata.tables) - tables
    concurrent.checks["fault"] = Check(
        codes == [0] * len(codes) and versions == [head] and not missing,
        f"exit codes {codes}; alembic_version {versions} (head {head}); "
        f"missing tables: {sorted(missing) or 'none'}",
    )
    for output, code in zip(outputs, codes, strict=True):
        if code:
            concurrent.notes.append(_last_error_line(output))
    concurrent.seconds = time.monotonic() - started

    started = time.monotonic()
    probe = run.workdir / "probe_versions"
    probe.mkdir(exist_ok=True)
    (probe / "faults_probe.py").write_text(PROBE_REVISION.format(down=head))
    holder = stack.connect(database)
    try:
        holder.autocommit = False
        holder.execute("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE")  # live traffic, say
        env = stack.app_env(LOCK_TIMEOUT_MS=str(LOCK_TIMEOUT_MS), JWT_SECRET=stack.JWT_SECRET)
        output = subprocess.run(
            [str(stack.BIN / "python"), "-c", PROBE_UPGRADE, url, str(probe)],
            env=env,
            cwd=run.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.rollback()
        holder.close()
    outcome = json.loads(output.stdout.strip().splitlines()[-1] if output.stdout.strip() else "{}")
    if "ok" not in outcome:
        raise RuntimeError(f"the migration probe printed no outcome:\n{output.stderr[-2000:]}")
    with stack.connect(database) as conn:
        versions = [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]
        advisory = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    bound = LOCK_TIMEOUT_MS / 1000 + 1.0
    error = outcome.get("error", "it succeeded").splitlines()[0][:120]
    blocked.checks["fault"] = Check(
        not outcome["ok"]
        and "lock timeout" in error
        and outcome["seconds"] <= bound
        and versions == [head]
        and advisory == (0,),
        f"failed after {outcome['seconds']:.2f} s (lock_timeout {LOCK_TIMEOUT_MS} ms, bound "
        f"{bound:.1f} s): {error}; alembic_version {versions}; advisory locks left: "
        f"{advisory[0] if advisory else '?'}",
    )
    blocked.seconds = time.monotonic() - started
    return [concurrent, blocked]


PROBE_REVISION = '''"""A throwaway revision: the fault run's probe of lock_timeout."""
import sqlalchemy as sa
from alembic import op

revision = "faults_probe"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("faults_probe", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("articles", "faults_probe")
'''

# `conduit migrate`'s own path (infrastructure.migrations -> alembic/env.py), with the
# probe revision's directory added to the version locations.
PROBE_UPGRADE = """
import json, os, sys, time
from alembic import command
from infrastructure.migrations import ALEMBIC_DIR, alembic_config

config = alembic_config(sys.argv[1])
config.set_main_option("path_separator", "os")
config.set_main_option(
    "version_locations", os.pathsep.join([str(ALEMBIC_DIR / "versions"), sys.argv[2]])
)
started = time.monotonic()
try:
    command.upgrade(config, "head")
    print(json.dumps({"ok": True, "seconds": time.monotonic() - started}))
except Exception as error:
    seconds = time.monotonic() - started
    error = f"{type(error).__name__}: {error}"
    print(json.dumps({"ok": False, "seconds": seconds, "error": error}))
"""


async def fault_7_pgbouncer(run: Run) -> list[Result]:
    """PgBouncer in transaction pooling mode: migrations, the service under load and the API
    tests through it, with psycopg's prepared statements off (DB_PREPARED_STATEMENTS=false)."""
    names = ("7a API tests via PgBouncer", "7b load via PgBouncer", "7c migrate via PgBouncer")
    if stack.pgbouncer_binary() is None:
        hint = "pgbouncer is not installed (Debian: apt-get install -y pgbouncer)"
        print(f"fault 7 skipped: {hint}")
        return [Result(name, skipped=hint) for name in names]
    tests, load, migrations = (Result(name) for name in names)
    bouncer = stack.PgBouncer()
    run.bouncers.append(bouncer)
    bouncer.start()
    try:
        await asyncio.to_thread(_pgbouncer_migrations, run, bouncer, migrations)
        await _pgbouncer_load(run, bouncer, load)
        await asyncio.to_thread(_pgbouncer_tests, run, bouncer, tests)
    finally:
        bouncer.stop()
    return [tests, load, migrations]


def _pgbouncer_migrations(run: Run, bouncer: stack.PgBouncer, result: Result) -> None:
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
            result.notes.append(_last_error_line(output))
    result.seconds = time.monotonic() - started


def _last_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if "Error" in line]
    return (lines[-1] if lines else output.strip().splitlines()[-1])[:160]


async def _pgbouncer_load(run: Run, bouncer: stack.PgBouncer, result: Result) -> None:
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
        server.terminate()
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


def _pgbouncer_tests(run: Run, bouncer: stack.PgBouncer, result: Result) -> None:
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
        [str(stack.BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
        cwd=stack.REPO,
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


async def fault_8_hostile_clients(run: Run) -> list[Result]:
    """The attacks of faults/attacks.py on the service as it ships (default settings, one
    worker, production password hashing), then the slow-client ones through nginx with the
    repository's config. An idle socket must be closed within the longest client timeout of
    the service (or of nginx) plus 5 s."""
    direct, fronted = Result("8a hostile clients"), Result("8b hostile clients via nginx")
    started = time.monotonic()
    profile = attacks.SHORT if run.profile.short else attacks.FULL
    database = run.new_database("_hostile")
    await asyncio.to_thread(stack.migrate, stack.pg_url(database), run.workdir)
    server = stack.Server(stack.pg_url(database), run.workdir, "hostile", tuned=False)
    run.servers.append(server)
    await asyncio.to_thread(server.start)
    try:
        bound = replace(profile, close_within=_service_client_timeout() + 5)
        _attack_checks(direct, await attacks.run_attacks(server.base_url, bound))
        direct.seconds = time.monotonic() - started
        started = time.monotonic()
        if front.nginx_binary() is None:
            fronted.skipped = "nginx is not installed (Debian: apt-get install -y nginx)"
            print(f"fault 8b skipped: {fronted.skipped}")
            return [direct, fronted]
        nginx = front.Nginx(server.port)
        run.fronts.append(nginx)
        await asyncio.to_thread(nginx.start)
        # A full run's 20,000 idle sockets would be more than one nginx worker may hold here.
        sockets = min(profile.idle_sockets, 10_000)
        bound = replace(profile, close_within=nginx.timeouts() + 5, idle_sockets=sockets)
        slow_clients = ("slow", "idle", "header")
        _attack_checks(
            fronted, await attacks.run_attacks(nginx.base_url, bound, slow_clients, "nginx")
        )
        nginx.stop()
    finally:
        await asyncio.to_thread(server.terminate)
    fronted.seconds = time.monotonic() - started
    return [direct, fronted]


def _service_client_timeout() -> float:
    """The longest of the service's header, body and keep-alive timeouts by default (20 s
    where it has none of them: today's code, which then fails on the sockets it never closes)."""
    from infrastructure.settings import Settings

    names = ("header_timeout_seconds", "body_timeout_seconds", "keepalive_timeout_seconds")
    fields = Settings.model_fields
    return max((float(fields[n].default) for n in names if n in fields), default=20.0)


def _attack_checks(result: Result, outcomes: list[attacks.Outcome]) -> None:
    for outcome in outcomes:
        detail = outcome.figures + ("" if outcome.probe == "-" else f"; probe: {outcome.probe}")
        result.checks[outcome.attack] = Check(outcome.ok, detail)
    held = sum(o.ok for o in outcomes)
    result.checks["fault"] = Check(
        bool(outcomes) and held == len(outcomes), f"{held} of {len(outcomes)} attacks held"
    )


# -- the run ----------------------------------------------------------------------------------

COLUMNS = ("requests", "2xx", "503", "other", "net")
INVARIANTS = ("I1", "I2", "I3", "I4", "I5")


def print_table(results: list[Result]) -> None:
    header = f"{'fault':<30} {'secs':>5} " + " ".join(f"{c:>8}" for c in COLUMNS)
    header += "  " + "  ".join(f"{i:<4}" for i in INVARIANTS) + "  fault check"
    print("\n" + header)
    print("-" * len(header))
    for r in results:
        numbers = " ".join(f"{r.load[c] if r.load else '-':>8}" for c in COLUMNS)
        marks = "  ".join(f"{r.checks[i].mark if i in r.checks else '-':<4}" for i in INVARIANTS)
        fault_mark = "skip" if r.skipped else r.checks.get("fault", Check(False, "?")).mark
        print(f"{r.fault:<30} {r.seconds:>5.0f} {numbers}  {marks}  {fault_mark}")
    print("\n'net': requests with no HTTP answer (client aborts in 3, the closed port in 4).")
    for r in results:
        print(f"\n{r.fault}:")
        if r.skipped:
            print(f"  skipped: {r.skipped}")
        for name, check in r.checks.items():
            print(f"  {name:<5} {check.mark}: {check.detail}")
        for note in r.notes:
            print(f"  note: {note}")


MAIN_FAULTS = {
    1: fault_1_postgres_restart,
    2: fault_2_terminate_backends,
    3: fault_3_client_disconnects,
    4: fault_4_sigterm,
    5: fault_5_conflicts,
}


async def main_target(run: Run, target: Target | None) -> Target:
    """The service on its database for faults 1-5, made on first use, restarted if down."""
    if target is None:
        database = run.new_database()
        await asyncio.to_thread(stack.migrate, stack.pg_url(database), run.workdir)
        server = await asyncio.to_thread(run.new_server, stack.pg_url(database), "main")
        target = Target(database, server)
        await run.populate(target)
    elif not target.server.alive():
        await asyncio.to_thread(target.server.start)
    return target


async def run_faults(run: Run, only: set[int]) -> list[Result]:
    results: list[Result] = []
    target: Target | None = None
    for number in sorted(only):
        print(f"fault {number} ...", flush=True)
        began = time.monotonic()
        try:
            if number in MAIN_FAULTS:
                target = await main_target(run, target)
                done = await MAIN_FAULTS[number](run, target)
            elif number == 6:
                done = await asyncio.to_thread(fault_6_migrations, run)
            elif number == 7:
                done = await fault_7_pgbouncer(run)
            else:
                done = await fault_8_hostile_clients(run)
        except Exception as error:  # one fault's crash must not hide the others' results
            crashed = Result(f"{number} (crashed)", seconds=time.monotonic() - began)
            crashed.checks["fault"] = Check(False, f"{type(error).__name__}: {error}"[:600])
            done = [crashed]
        finally:
            await asyncio.to_thread(stack.ensure_postgres_running)
        for r in done:
            state = "skipped" if r.skipped else ("FAILED" if r.failed else "ok")
            print(f"  {r.fault}: {state} ({r.seconds:.0f} s)", flush=True)
        results += done
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="~5-10 s per fault (CI)")
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8", help="faults to run, e.g. 1,4")
    parser.add_argument("--db-prefix", default="conduit_faults", help="names of the databases")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the logs")
    args = parser.parse_args()
    only = {int(n) for n in args.only.split(",") if n.strip()}
    profile = SHORT if args.short else FULL

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # clean up on SIGTERM as on Ctrl-C
    workdir = Path(tempfile.mkdtemp(prefix="conduit-faults-"))
    run = Run(profile, args.db_prefix, workdir)
    started = time.monotonic()
    results: list[Result] = []
    ok = False
    try:
        stack.ensure_postgres_running()
        print(f"fault runs ({'short' if profile.short else 'full'}); logs in {workdir}", flush=True)
        results = asyncio.run(run_faults(run, only))
        ok = bool(results) and not any(r.failed for r in results)
    except KeyboardInterrupt:
        print("interrupted: stopping what was started", file=sys.stderr)
        return 130
    finally:
        for server in run.servers:
            server.terminate()
        for bouncer in run.bouncers:
            bouncer.stop()
        for front in run.fronts:
            front.stop()
        stack.ensure_postgres_running()
        if not args.keep:
            for database in run.databases:
                stack.drop_database(database)
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)
    print(f"\n{'PASSED' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s", end="")
    print("" if ok and not args.keep else f" (logs: {workdir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
