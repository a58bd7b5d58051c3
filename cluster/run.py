"""A cluster on one machine, under load and faults (``make cluster``; needs root).

    .venv/bin/python cluster/run.py [--short] [--no-replica-reads] [--host-env NAME=VALUE ...]

Starts a PostgreSQL primary and a streaming replica (clusters of their own on free ports,
tooling/pgcluster.py), PgBouncer in transaction mode in front of each, 3 API hosts each in a
network namespace of its own (``conduit serve --workers 2`` on PgBouncer), and nginx with
the production front configuration (deploy/nginx/conduit.conf) balancing them; drives a
mixed load through nginx from several client addresses; injects the faults of
cluster/scenario.py one after another, checking the invariants after each; prints a table
of them and the load per host; stops everything it started; exits non-zero on any failure.

The hosts get DATABASE_REPLICA_URLS (the replica's PgBouncer) and REPLICA_MAX_LAG_SECONDS
(--staleness-bound): read-only units of work run on the replica when it qualifies.
--no-replica-reads leaves every read on the primary.
"""

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "faults")]  # faults/ modules import each other by name

from front import upstream_counts  # noqa: E402
from plan import Result  # noqa: E402

from cluster import netns  # noqa: E402
from cluster.clients import Clients  # noqa: E402
from cluster.scenario import Scenario  # noqa: E402
from cluster.topology import Topology  # noqa: E402
from tooling import pgcluster  # noqa: E402

CHECKS = ("acked", "counts", "leaks", "5xx", "burst", "replica", "fault")
LOAD = ("requests", "2xx", "4xx", "5xx", "500", "net")


def print_table(outcomes: list[Result]) -> None:
    header = f"{'fault':<28} {'secs':>4} " + " ".join(f"{c:>8}" for c in LOAD)
    header += "  " + " ".join(f"{c:<7}" for c in CHECKS)
    print("\n" + header + "\n" + "-" * len(header))
    for o in outcomes:
        load = " ".join(f"{(o.load or {}).get(c, 0):>8}" for c in LOAD)
        marks = " ".join(f"{o.checks[c].mark if c in o.checks else '-':<7}" for c in CHECKS)
        print(f"{o.fault:<28} {o.seconds:>4.0f} {load}  {marks}")
    for o in outcomes:
        print(f"\n{o.fault}:")
        for name, check in o.checks.items():
            print(f"  {name:<7} {check.mark}: {check.detail}")


def print_failures(outcomes: list[Result], topology: Topology) -> None:
    """Last, where a truncated log still shows it: each failed check, the requests that got
    no 2xx in that fault, and what the hosts logged for them."""
    sys.stderr.flush()
    for o in (o for o in outcomes if o.failed):
        print(f"\nfailed: {o.fault}")
        for name, check in o.checks.items():
            if not check.ok and not check.skipped:
                print(f"  {name}: {check.detail}")
        for note in o.notes:
            print(f"  not 2xx: {note}")
            request_id = note.rpartition("request id ")[2].rstrip(")")
            for host in topology.hosts if request_id else []:
                for line in host.log_text().splitlines():
                    if request_id in line:
                        print(f"    {host.name}: {line[:300]}")


def print_hosts(topology: Topology, seconds: float) -> None:
    """Requests per host as nginx saw them (which upstream answered) over the whole run."""
    assert topology.nginx is not None
    counts = upstream_counts(topology.nginx.access_log())
    names = {f"{h.host}:{h.port}": h.name for h in topology.hosts}
    print(f"\n{'host':<30} {'requests':>9} {'req/s':>7} {'2xx':>8} {'4xx':>6} {'5xx':>6}")
    for upstream, by_class in sorted(counts.items()):
        total = sum(by_class.values())
        name = f"{names.get(upstream, upstream)} ({upstream})" if upstream in names else upstream
        print(
            f"{name:<30} {total:>9} {total / seconds:>7.1f} {by_class['2xx']:>8} "
            f"{by_class['4xx']:>6} {by_class['5xx']:>6}"
        )
    print("('nginx': answered by nginx itself, no host tried; 5xx: errors per host)")


async def drive(topology: Topology, args: argparse.Namespace) -> tuple[list[Result], float]:
    assert topology.nginx is not None
    clients = Clients(topology.nginx.base_url, args.clients, args.users_per_client)
    try:
        await clients.populate()
        scenario = Scenario(
            topology, clients, args.fault_seconds, args.replica_reads, args.staleness_bound
        )
        began = time.monotonic()
        await scenario.run()
        return scenario.outcomes, time.monotonic() - began
    finally:
        await clients.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="~6 s of load per fault (CI)")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="per host")
    # One address per user: nginx allows each address 2 sign-ups or logins a second.
    parser.add_argument("--clients", type=int, default=12, help="client addresses")
    parser.add_argument("--users-per-client", type=int, default=1)
    parser.add_argument(
        "--no-replica-reads",
        dest="replica_reads",
        action="store_false",
        help="no DATABASE_REPLICA_URLS: every read on the primary",
    )
    parser.add_argument(
        "--staleness-bound",
        type=float,
        default=2.0,
        help="seconds others may read behind (REPLICA_MAX_LAG_SECONDS)",
    )
    parser.add_argument(
        "--host-env", action="append", default=[], metavar="NAME=VALUE", help="a host setting"
    )
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    args.fault_seconds = 6.0 if args.short else 20.0
    return args


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("make cluster needs root (network namespaces, pg_createcluster)", file=sys.stderr)
        return 2

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # clean up on SIGTERM as on Ctrl-C
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="conduit-cluster-"))
    pgcluster.drop_stale()
    netns.drop_stale()
    host_env = dict(setting.split("=", 1) for setting in args.host_env)
    topology = Topology(
        workdir, args.hosts, args.workers, args.replica_reads, args.staleness_bound, host_env
    )
    outcomes: list[Result] = []
    ok = False
    try:
        print(f"cluster run ({'short' if args.short else 'full'}); logs in {workdir}", flush=True)
        topology.start()
        outcomes, seconds = asyncio.run(drive(topology, args))
        ok = bool(outcomes) and not any(o.failed for o in outcomes)
        print_table(outcomes)
        print_hosts(topology, seconds)
    except KeyboardInterrupt:
        print("interrupted: stopping what was started", file=sys.stderr)
        return 130
    finally:
        if not ok:
            for host in topology.hosts:
                print(f"\n-- {host.name} log tail --\n{host.log_tail(15)}", file=sys.stderr)
        topology.stop()
        if ok and not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        print_failures(outcomes, topology)
    print(f"\n{'PASSED' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s", end="")
    print("" if ok and not args.keep_logs else f" (logs: {workdir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
