"""What every fault run works with: its profile, the service on a database with the load's
ledger (``Target``), what it made (``Run``), and each fault's ``Result``."""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import invariants
import stack
from invariants import Check
from load import Ledger, LoadDriver, User, success_ratio

from tooling.harness import Daemon, Server, drop_database, recreate_database


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
    server: Server
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
        self.servers: list[Server] = []
        self.daemons: list[Daemon] = []  # PgBouncer, nginx

    def stop_all(self, drop_databases: bool) -> None:
        """Stop every server and daemon started; PostgreSQL is left running (and started if
        a fault left it down)."""
        for server in self.servers:
            server.stop()
        for daemon in self.daemons:
            daemon.stop()
        stack.ensure_postgres_running()
        if drop_databases:
            for database in self.databases:
                drop_database(stack.pg_url(database))

    # -- what a fault needs -----------------------------------------------------------------

    def new_database(self, suffix: str = "") -> str:
        name = self.prefix + suffix
        recreate_database(stack.pg_url(name))
        self.databases.append(name)
        return name

    def new_server(self, database_url: str, name: str, **settings: str) -> Server:
        server = stack.service(database_url, self.workdir, name, **settings)
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

    def server_errors(self, server: Server, since: int = 0) -> list[str]:
        """500s and exceptions in the service's log (from character ``since`` on)."""
        log = server.log_text()[since:]
        errors = log.count('"status": 500')
        return ([f"{errors} answers 500 in the service log"] if errors else []) + exceptions_in(log)


EXCEPTION_LINE = re.compile(r"^[a-z_.]+\.[A-Za-z]*(Error|Exception|Shutdown)\b.*", re.MULTILINE)


def exceptions_in(log: str) -> list[str]:
    """The distinct exceptions (last lines of tracebacks) in a service log."""
    return list(dict.fromkeys(m.group(0)[:160] for m in EXCEPTION_LINE.finditer(log)))


def last_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if "Error" in line]
    return (lines[-1] if lines else output.strip().splitlines()[-1])[:160]
