"""The faults ``make cluster`` injects under load, one after another, and the invariants
checked after each (faults/invariants.py's, on the cluster's primary):

  acked     every acknowledged write is there, with the values returned (I2)
  counts    favoritesCount equals the favorite rows, no orphans, no half-writes (I3, I4)
  leaks     on every host nothing checked out, and no connection idle in transaction (I1)
  5xx       no 5xx but for requests in flight during the fault, never a 500
  burst     right after, a burst through nginx is >= 99% 2xx
  replica   the replica catches up and holds what the primary holds, nothing idle in
            transaction there; unless --no-replica-reads, it served reads
  fault     the fault's own check (see each function)
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import invariants
import stack
from front import upstream_counts
from invariants import Check
from plan import Result

from cluster.clients import Clients, categories
from cluster.topology import DATABASE, Topology
from tooling.pgcluster import PgCluster

GRACE = 2.0  # seconds after a component is back during which requests may still fail
CATCH_UP_SECONDS = 30.0


@dataclass
class Window:
    """When a fault made the cluster fail (monotonic seconds): 5xx (but 500) are allowed
    for requests in flight during it (begun before its end + GRACE, ended after its start)."""

    began: float = 0.0
    ended: float = 0.0


@dataclass
class Scenario:
    topology: Topology
    clients: Clients
    fault_seconds: float
    replica_reads: bool = False
    staleness_bound: float = 2.0  # seconds another client may read behind a write
    outcomes: list[Result] = field(default_factory=list)

    async def run(self) -> None:
        for name, fault in (
            ("none (baseline)", self.baseline),
            ("API host killed", self.kill_host),
            ("replica stopped, started", self.restart_replica),
            ("replay paused on replica", self.pause_replay),
            ("PgBouncer restarted", self.restart_bouncer),
            ("primary stopped, failover", self.fail_over),
        ):
            print(f"fault: {name} ...", flush=True)
            outcome = Result(name)
            started = time.monotonic()
            window = Window()
            stop = asyncio.Event()
            load = asyncio.create_task(self.clients.run(stop))
            try:
                outcome.checks["fault"] = await fault(window)
            except Exception as error:  # the checks below still tell what state it left
                outcome.checks["fault"] = Check(False, f"{type(error).__name__}: {error}"[:400])
            finally:
                stop.set()
                await load
            await self.check(outcome, window, started)
            outcome.seconds = time.monotonic() - started
            state = "FAILED" if outcome.failed else "ok"
            print(f"  {state} ({outcome.seconds:.0f} s)", flush=True)
            self.outcomes.append(outcome)

    async def sleep(self, share: float) -> None:
        await asyncio.sleep(self.fault_seconds * share)

    # -- the faults ---------------------------------------------------------------------------

    async def baseline(self, window: Window) -> Check:
        await self.sleep(1)
        return Check(True, "load with no fault")

    async def kill_host(self, window: Window) -> Check:
        """SIGKILL to host 2 mid-load: nginx routes around it; it is started again after."""
        host, nginx = self.topology.hosts[1], self.topology.nginx
        assert nginx is not None
        await self.sleep(0.3)
        window.began = time.monotonic()
        await asyncio.to_thread(host.kill)
        killed_at = time.time()
        await self.sleep(0.4)
        # Once nginx has seen the failure, the other hosts answer everything.
        records = self.clients.records(since=window.began + GRACE)
        cats = categories(records)
        await asyncio.to_thread(host.start, 120)
        window.ended = time.monotonic()
        restarted_at = time.time()
        upstream = f"{host.host}:{host.port}"
        during = counts_between(nginx.access_log(), killed_at + GRACE, restarted_at)
        to_dead = sum(during.get(upstream, {}).values())
        # nginx tries a failed upstream again after its fail_timeout (10 s by default).
        back, waited = 0, 0.0
        while back == 0 and waited < 20:
            await asyncio.sleep(0.5)
            waited = time.time() - restarted_at
            back = sum(counts_between(nginx.access_log(), restarted_at, time.time()).get(
                upstream, {}).values())  # fmt: skip
        ok = cats["5xx"] + cats["500"] + cats["net"] == 0 and to_dead == 0 and back > 0
        return Check(
            ok,
            f"while down: {len(records)} requests, {cats['2xx']} 2xx, {cats['5xx']} 5xx, "
            f"{to_dead} answered by the dead host; restarted, it answered again within "
            f"{waited:.1f} s",
        )

    async def restart_replica(self, window: Window) -> Check:
        """The replica stopped (fast) under load and started again: it catches up. Hosts
        reading from it skip it within GRACE of the stop (5xx only for requests begun by then)."""
        replica = self.topology.replica
        assert replica is not None
        await self.sleep(0.3)
        window.began = time.monotonic()
        await asyncio.to_thread(replica.stop)
        window.ended = time.monotonic()
        await self.sleep(0.4)
        await asyncio.to_thread(replica.start)
        await self.sleep(0.3)
        return Check(True, "stopped and started (the replica check tells whether it caught up)")

    async def pause_replay(self, window: Window) -> Check:
        """pg_wal_replay_pause() on the replica under load: it falls behind. Each client
        reads its own write at once; another client reads it after the staleness bound;
        then replay resumes and the replica catches up (the replica check)."""
        replica, primary = self.topology.replica, self.topology.primary
        assert replica is not None and primary is not None
        await self.sleep(0.2)
        window.began = time.monotonic()
        await asyncio.to_thread(sql, replica, "SELECT pg_wal_replay_pause()")
        written, own_misses = await self.clients.read_own_writes()
        await asyncio.sleep(max(self.staleness_bound, self.fault_seconds * 0.6))
        others_misses = await self.clients.read_others_writes(written)
        lag = await asyncio.to_thread(
            lambda: lsn_diff(primary, sql(primary, "SELECT pg_current_wal_lsn()::text"), replica)
        )
        state = await asyncio.to_thread(sql, replica, "SELECT pg_get_wal_replay_pause_state()")
        await asyncio.to_thread(sql, replica, "SELECT pg_wal_replay_resume()")
        window.ended = time.monotonic()
        await self.sleep(0.2)
        return Check(
            state == "paused" and lag > 0 and bool(written) and not own_misses + others_misses,
            f"replay {state}, the replica {lag} bytes behind; {len(written)} clients wrote: "
            f"read back at once by the writer {len(written) - len(own_misses)}, by another "
            f"client after {self.staleness_bound:.0f} s {len(written) - len(others_misses)}"
            + "".join(f"; missed: {m}" for m in (own_misses + others_misses)[:3])
            + ("" if self.replica_reads else " (--no-replica-reads: reads on the primary)"),
        )

    async def restart_bouncer(self, window: Window) -> Check:
        """PgBouncer in front of the primary restarted under load: writes resume."""
        bouncer = self.topology.bouncer
        assert bouncer is not None
        await self.sleep(0.3)
        window.began = time.monotonic()
        await asyncio.to_thread(bouncer.restart)
        window.ended = time.monotonic()
        await self.sleep(0.5)
        return writes_resumed(self.clients, window.ended + GRACE)

    async def fail_over(self, window: Window) -> Check:
        """The documented manual failover: the primary stopped (fast: its last WAL streams
        to the replica), the replica promoted, PgBouncer re-pointed at it; writes resume."""
        topology = self.topology
        old, new = topology.primary, topology.replica
        assert old is not None and new is not None
        await self.sleep(0.3)
        window.began = time.monotonic()
        await asyncio.to_thread(old.stop)
        final = await asyncio.to_thread(old.checkpoint_location)
        received = await asyncio.to_thread(sql, new, "SELECT pg_last_wal_receive_lsn()::text")
        await asyncio.to_thread(topology.fail_over)
        window.ended = time.monotonic()
        await self.sleep(0.5)
        resumed = writes_resumed(self.clients, window.ended + GRACE)
        complete = await asyncio.to_thread(sql, new, f"SELECT '{received}'::pg_lsn >= '{final}'")
        return Check(
            resumed.ok and complete is True,
            f"old primary's shutdown checkpoint {final}, the replica had received {received}; "
            f"{resumed.detail}",
        )

    # -- after each fault -----------------------------------------------------------------------

    async def check(self, outcome: Result, window: Window, started: float) -> None:
        records = self.clients.records(since=started)
        cats = categories(records)
        outcome.load = {"requests": len(records), **cats}
        # In flight during the fault: begun before it was over, ended after it began.
        late = [
            r
            for r in records
            if r.status == 500
            or (
                r.status is not None
                and r.status > 500
                and not (r.started <= window.ended + GRACE and r.finished >= window.began)
            )
        ]
        statuses = Counter(r.status for r in records if r.status and r.status >= 400)
        # Which requests failed, by the id the hosts log them under: a failed run's summary
        # shows them, and the hosts' lines for them (cluster/run.py).
        outcome.notes += [
            f"{r.kind}: {r.status or r.error} (request id {r.request_id})"
            for r in records
            if r.status is None or r.status >= 400
        ][:5]
        outcome.checks["5xx"] = Check(
            not late and cats["4xx"] == 0,
            f"{len(late)} 5xx outside the fault's window or 500; in all: "
            + (", ".join(f"{n} x {status}" for status, n in sorted(statuses.items())) or "none"),
        )
        burst = await self.clients.burst(200)
        ratio = categories(burst)["2xx"] / max(1, len(burst))
        outcome.checks["burst"] = Check(ratio >= 0.99, f"{ratio:.1%} 2xx of {len(burst)}")
        outcome.checks.update(await asyncio.to_thread(self.database_checks))
        outcome.checks["replica"] = await asyncio.to_thread(self.replica_check)

    def database_checks(self) -> dict[str, Check]:
        hosts = [h for h in self.topology.hosts if h.alive()]
        leaks = [invariants.no_leaks(h.base_url, DATABASE, None) for h in hosts]
        with stack.connect(DATABASE) as conn:
            snap = invariants.snapshot(conn)
            acked = invariants.nothing_lost(snap, self.clients.ledger, hosts[0].base_url)
            half = invariants.no_half_writes(conn, snap, self.clients.ledger)
            duplicates = invariants.no_duplicates(conn)
        return {
            "acked": acked,
            "counts": Check(half.ok and duplicates.ok, f"{half.detail}; {duplicates.detail}"),
            "leaks": Check(
                len(hosts) == len(self.topology.hosts) and all(c.ok for c in leaks),
                f"{len(hosts)} hosts up; " + " | ".join(c.detail for c in leaks),
            ),
        }

    def replica_check(self) -> Check:
        """The replica replays up to the primary's position within CATCH_UP_SECONDS and
        then holds the same rows (the last fault promotes it: nothing to check then)."""
        replica, primary = self.topology.replica, self.topology.primary
        if replica is None or primary is None:
            return Check(True, "promoted: no replica left", skipped=True)
        target = sql(primary, "SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while lsn_diff(primary, target, replica) > 0:
            if time.monotonic() > deadline:
                lag = lsn_diff(primary, target, replica)
                return Check(False, f"still {lag} bytes behind after {CATCH_UP_SECONDS:.0f} s")
            time.sleep(0.2)
        with primary.connect(DATABASE) as p, replica.connect(DATABASE) as r:
            ours, theirs = invariants.snapshot(p), invariants.snapshot(r)
            idle = r.execute(IDLE_IN_TRANSACTION, [DATABASE]).fetchone()
            served = r.execute(SERVED, [DATABASE]).fetchone()
        same = ours == theirs
        idle_count = idle[0] if idle else -1
        served_count = served[0] if served else 0
        return Check(
            same and idle_count == 0 and (served_count > 0 or not self.replica_reads),
            f"caught up to {target}; {len(theirs.articles)} articles, {len(theirs.comments)} "
            f"comments, {len(theirs.favorites)} favorites "
            + ("as on the primary" if same else "DIFFER from the primary")
            + f"; idle in transaction there: {idle_count}; it served {served_count} transactions",
        )


# -- helpers ----------------------------------------------------------------------------------


def sql(cluster: PgCluster, query: str) -> object:
    """The one value ``query`` returns on ``cluster``."""
    with cluster.connect() as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


def lsn_diff(primary: PgCluster, lsn: object, replica: PgCluster) -> int:
    """How many bytes of WAL up to ``lsn`` the replica has not replayed yet."""
    replayed = sql(replica, "SELECT pg_last_wal_replay_lsn()::text")
    value = sql(primary, f"SELECT greatest(0, pg_wal_lsn_diff('{lsn}', '{replayed}'))::bigint")
    return int(str(value))


def writes_resumed(clients: Clients, since: float) -> Check:
    writes = [r for r in clients.records(since) if r.kind not in READS]
    acknowledged = sum(1 for r in writes if r.status is not None and 200 <= r.status < 300)
    return Check(acknowledged > 0, f"{acknowledged} of {len(writes)} writes acknowledged after")


IDLE_IN_TRANSACTION = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
    " AND state LIKE 'idle in transaction%%' AND backend_type = 'client backend'"
)
# What the replica served so far (autocommit reads count one each); our helpers' are few.
SERVED = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s"
READS = {"list articles", "get article", "list comments", "tags", "read a write"}


def counts_between(access_log: str, begin: float, end: float) -> dict[str, dict[str, int]]:
    """Answers per upstream in nginx's access log between two wall-clock moments."""
    lines = [
        line
        for line in access_log.splitlines()
        if line[:1].isdigit() and begin <= float(line.split(" ", 1)[0]) < end
    ]
    return {k: dict(v) for k, v in upstream_counts("\n".join(lines)).items()}
