"""Faults 1-5: the service on its database under load while PostgreSQL restarts, its
backends are terminated, clients give up mid-request, the service gets SIGTERM, and writes
conflict."""

import asyncio
import re
import signal
import time
from dataclasses import dataclass

import invariants
import stack
from invariants import Check
from load import User, last_record, new_title, success_ratio
from plan import Result, Run, Target

from tooling.harness import Server


async def fault_1_postgres_restart(run: Run, target: Target) -> list[Result]:
    """PostgreSQL restarted (fast) under load: in-flight requests get 503, and within 5 s of
    the database being back >= 99% succeed, without restarting the service."""
    result = Result("1 PostgreSQL restart")
    if not stack.can_control_cluster():
        result.skipped = "needs a cluster of its own: run as root or postgres (pg_createcluster)"
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
        shutdown.exit_code, shutdown.seconds = await asyncio.to_thread(server.stop, 15)
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


def _metric(server: Server, name: str) -> float:
    return invariants.scrape_metrics(server.base_url).get(name, 0.0)
