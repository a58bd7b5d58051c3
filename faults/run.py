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

They run on a PostgreSQL cluster of their own on a free port (tooling/pgcluster.py: made with
Debian's pg_createcluster when run as root or postgres, dropped at the end), never touching
the machine's server; otherwise on the server on 127.0.0.1:5432, without fault 1.
Exits non-zero if any check fails; a fault that cannot run here is "skipped".

The parts: plan.py (what a fault works with), under_load.py (1-5),
concurrent_migrations.py (6), behind_pgbouncer.py (7), hostile.py (8, with attacks.py);
stack.py starts the service as the faults run it, on tooling/harness.py (shared with bench/).
"""

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tooling/, shared with bench/

import stack
from behind_pgbouncer import fault_7_pgbouncer
from concurrent_migrations import fault_6_migrations
from hostile import fault_8_hostile_clients
from invariants import Check
from plan import FULL, SHORT, Result, Run, Target
from under_load import (
    fault_1_postgres_restart,
    fault_2_terminate_backends,
    fault_3_client_disconnects,
    fault_4_sigterm,
    fault_5_conflicts,
)

from tooling.pgcluster import PgCluster, can_make_clusters, drop_stale

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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="~5-10 s per fault (CI)")
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8", help="faults to run, e.g. 1,4")
    parser.add_argument("--db-prefix", default="conduit_faults", help="names of the databases")
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases (and cluster) and the logs"
    )
    parser.add_argument(
        "--serving",
        choices=("auto", "thread", "bridge"),
        default="auto",
        help="the services' SERVING: how they run use cases (auto: the default path)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    only = {int(n) for n in args.only.split(",") if n.strip()}
    stack.SERVICE_SETTINGS["SERVING"] = args.serving

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # clean up on SIGTERM as on Ctrl-C
    run = Run(
        SHORT if args.short else FULL,
        args.db_prefix,
        Path(tempfile.mkdtemp(prefix="conduit-faults-")),
    )
    started = time.monotonic()
    results: list[Result] = []
    ok = False
    cluster: PgCluster | None = None
    try:
        if can_make_clusters():
            drop_stale()
            cluster = PgCluster.create("faults")
            stack.use_cluster(cluster)
            print(f"PostgreSQL: cluster {cluster.name} on port {cluster.port}", flush=True)
        stack.ensure_postgres_running()
        print(
            f"fault runs ({'short' if args.short else 'full'}); logs in {run.workdir}", flush=True
        )
        results = asyncio.run(run_faults(run, only))
        ok = bool(results) and not any(r.failed for r in results)
    except KeyboardInterrupt:
        print("interrupted: stopping what was started", file=sys.stderr)
        return 130
    finally:
        run.stop_all(drop_databases=not args.keep and cluster is None)
        if cluster is not None and not args.keep:
            cluster.drop()
        if ok and not args.keep:
            shutil.rmtree(run.workdir, ignore_errors=True)
    print_table(results)
    print(f"\n{'PASSED' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s", end="")
    print("" if ok and not args.keep else f" (logs: {run.workdir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
