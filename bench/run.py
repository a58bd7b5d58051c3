"""The Conduit benchmark: the service under wrk, scenario by scenario, against its ceiling.

    .venv/bin/python bench/run.py [--runs 3] [--duration 10] [--warmup 3]
                                  [--scenarios list,feed,...] [--workers 1] [--profile]

What it does (bench/README.md has the details and how to read the table):

1. (Re)creates the PostgreSQL database ``BENCH_DATABASE_URL`` (default
   ``postgresql+psycopg://postgres@127.0.0.1:5432/conduit_bench``; its name must contain
   "bench", because it is dropped), then ``conduit migrate`` and ``conduit seed``.
2. Starts ``conduit serve`` on a free port: 1 worker pinned to CPU 0 (``taskset -c 0``),
   or ``--workers N`` unpinned. Logs in ``user0`` over HTTP for a token.
3. For each scenario: captures one real response, starts the ceiling (bench/ceiling.py,
   the same server stack answering that response from memory) pinned like the service,
   warms both up, then alternates measured runs of the service and of the ceiling:
   ``taskset -c 1 wrk -t1 -c32 -d<duration> --latency -s bench/scenario.lua``.
4. Prints the medians (and ranges) per scenario with the ratio to the ceiling and the
   issue's targets; writes everything to ``.bench/results/<timestamp>.json``.

Everything it starts is stopped in a ``finally``, also on Ctrl-C.

The parts: scenarios.py (the requests), measure.py (wrk, CPU from /proc, the ceilings),
report.py (summaries and tables), layers.py (``--layers``); servers, ports and the
database come from tooling/harness.py, shared with the fault runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tooling/, shared with faults/

from layers import LAYER_READS, LAYERS, run_layers
from measure import (
    CEILING_WARMUP_S,
    CLIENT_CPU,
    CONNECTIONS,
    OUT,
    SERVER_CPU,
    ceiling_server,
    machine_noise,
    measured,
    pinned,
    run_wrk,
    say,
)
from report import P99_TARGET_MS, print_results, summarise, table, verdict
from scenarios import (
    BY_NAME,
    DEFAULT_DATABASE_URL,
    SCENARIOS,
    SEED,
    BenchError,
    Fixture,
    Scenario,
    capture,
    load_fixture,
    log_in,
)

from tooling.harness import BIN, REPO, Server, ServerError, free_port, recreate_database


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Scenarios: " + ", ".join(f"{s.name} ({s.title})" for s in SCENARIOS),
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario (3)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per run (10)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds (3)")
    parser.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenarios to run (default: all)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn workers; 1 is pinned to CPU 0 (1)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of `conduit seed` (1)")
    parser.add_argument(
        "--noise-limit",
        type=float,
        default=30,
        metavar="PCT",
        help="a run during which other processes used more than PCT%% of a core is run again (30)",
    )
    parser.add_argument(
        "--noise-retries",
        type=int,
        default=1,
        metavar="N",
        help="at most N runs again per scenario; then noisy runs are kept (1)",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep the database of the last run instead of recreating and seeding it",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each scenario, one more run with py-spy recording the service "
        "(needs `.venv/bin/pip install py-spy`); stacks go to .bench/",
    )
    parser.add_argument(
        "--serving",
        default=None,
        metavar="PATHS",
        help="serve with SERVING=PATH (thread, bridge, auto); two or more, comma-separated "
        "(thread,bridge): one service per path, their runs alternating in each scenario, "
        "instead of the ceiling; the table gives each path's req/s and p99 and the ratio of "
        "each to the first (default: the environment's SERVING, else auto)",
    )
    parser.add_argument(
        "--layers",
        action="store_true",
        help="instead of the scenarios: a read with the service's layers added one at a "
        "time (bench/ceiling.py --layer), to show what each costs; for the scenarios "
        f"{', '.join(LAYER_READS)} (default: all of them)",
    )
    args = parser.parse_args(argv)
    if args.scenarios is None:
        args.scenarios = ",".join(LAYER_READS if args.layers else BY_NAME)
    if args.layers and not set(args.scenarios.split(",")) <= set(LAYER_READS):
        parser.error(f"--layers measures the scenarios {', '.join(LAYER_READS)}")
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown or not names:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(BY_NAME)}")
    args.selected = [BY_NAME[name] for name in names]
    args.servings = [p.strip() for p in (args.serving or "").split(",") if p.strip()]
    if not set(args.servings) <= {"auto", "thread", "bridge"}:
        parser.error("--serving takes thread, bridge or auto, comma-separated")
    if len(args.servings) > 1 and (args.layers or args.profile):
        parser.error("comparing serving paths leaves out --layers and --profile")
    if args.runs < 1 or args.duration <= 0 or args.warmup < 0 or args.workers < 1:
        parser.error("--runs and --workers must be >= 1, --duration > 0, --warmup >= 0")
    return args


def check_tools(profile: bool) -> None:
    if shutil.which("wrk") is None:
        print(
            "bench: wrk is not installed. Install it with:\n    apt-get install -y wrk",
            file=sys.stderr,
        )
        sys.exit(2)
    if shutil.which("taskset") is None:
        print("bench: taskset is missing: apt-get install -y util-linux", file=sys.stderr)
        sys.exit(2)
    if profile and not _py_spy():
        print("bench: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        sys.exit(2)


def _py_spy() -> str | None:
    local = BIN / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_tools(args.profile)
    database_url = bench_database_url()
    if database_url is None:
        return 2
    pin = (os.cpu_count() or 1) >= 2
    if not pin:
        say("bench: fewer than 2 CPUs: nothing is pinned; the numbers are not comparable")
    pin_server = pin and args.workers == 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = OUT / "runs" / stamp
    work.mkdir(parents=True, exist_ok=True)
    (OUT / "results").mkdir(parents=True, exist_ok=True)
    announce(args)
    env = os.environ | {"DATABASE_URL": database_url, "JWT_SECRET": secrets.token_urlsafe(48)}
    started = time.monotonic()
    servers: list[Server] = []
    results: list[dict[str, Any]] = []
    layers: list[dict[str, Any]] = []
    try:
        say(f"bench: {'reusing' if args.reuse_db else 'recreating'} {hidden(database_url)}")
        if not args.reuse_db:
            prepare_database(database_url, env, args.seed)
        if len(args.servings) > 1:
            results = compare_servings(args, env, work, pin, pin_server, database_url, servers)
            return report_servings(args, stamp, started, database_url, pin, pin_server, results)
        if args.servings:
            env["SERVING"] = args.servings[0]
        service = service_server(env, args.workers, work, pin_server)
        servers.append(service)
        service.start()
        say(f"bench: service on {service.base_url} (pids {service.pids()})")
        fixture = load_fixture(database_url, log_in(service.base_url))
        say(
            f"bench: {len(fixture.slugs)} articles; comments of {fixture.comments_slug} "
            f"({fixture.comments_count}); profile {fixture.followed_username}"
        )
        for scenario in args.selected:
            if args.layers:
                found = run_layers(
                    scenario, service, fixture, database_url, env, args, work, pin, pin_server
                )
                layers.append(found)
                continue
            results.append(
                run_scenario(scenario, service, fixture, env, args, work, pin, pin_server)
            )
            say(table(results[-1:]).splitlines()[-1])
    except (BenchError, ServerError) as error:
        say(f"bench: {error}")
        return 1
    finally:
        for server in reversed(servers):
            server.stop()

    seconds = time.monotonic() - started
    report = run_report(args, stamp, seconds, hidden(database_url), pin, pin_server)
    report["scenarios"] = results
    if args.layers:
        report["layers"] = layers
    out = OUT / "results" / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print_results(args, results, layers)
    print(f"results: {out.relative_to(REPO)}  ({seconds / 60:.1f} min)")
    return 0


def compare_servings(
    args: argparse.Namespace,
    env: dict[str, str],
    work: Path,
    pin: bool,
    pin_server: bool,
    database_url: str,
    servers: list[Server],
) -> list[dict[str, Any]]:
    """One service per serving path (each pinned like the service, only one driven at a
    time); per scenario, each warmed up, then their runs alternating, so a slow patch of
    the machine hurts every path alike."""
    services: dict[str, Server] = {}
    for path in args.servings:
        log = work / f"service-{path}.log"
        services[path] = service = service_server(
            env | {"SERVING": path}, args.workers, work, pin_server, log=log
        )
        servers.append(service)
        service.start()
        say(f"bench: SERVING={path} on {service.base_url} (pids {service.pids()})")
    first = services[args.servings[0]]
    fixture = load_fixture(database_url, log_in(first.base_url))
    results = []
    for scenario in args.selected:
        paths = scenario.paths(fixture)
        paths_file = work / f"{scenario.name}.paths"
        paths_file.write_text("\n".join(paths) + "\n")
        for service in services.values():
            capture(service.base_url, scenario, paths[0], fixture.token, work.name)
            if args.warmup:
                run_wrk(service.base_url, scenario, paths_file, fixture.token, args.warmup, pin)
        runs: dict[str, list[dict[str, Any]]] = {path: [] for path in services}
        for _ in range(args.runs):
            for path, service in services.items():
                run = measured(service, scenario, paths_file, fixture.token, args.duration, pin)
                runs[path].append(run)
        summaries = {path: summarise(found) for path, found in runs.items()}
        base = summaries[args.servings[0]]["rps"]["median"]
        result = {
            "scenario": scenario.name,
            "title": scenario.title,
            "servings": summaries,
            "ratios": {path: s["rps"]["median"] / base for path, s in summaries.items()},
            "runs": runs,
        }
        results.append(result)
        say(serving_table(args.servings, [result]).splitlines()[-1])
    return results


def serving_table(servings: list[str], results: list[dict[str, Any]]) -> str:
    """Per scenario: each path's median req/s (min-max) and p99, and its ratio to the first."""
    head = ["scenario"]
    for path in servings:
        head += [f"{path} req/s", f"{path} p99 ms"]
    head += [f"{path}/{servings[0]}" for path in servings[1:]] + ["noise %"]
    lines = ["  ".join(f"{h:>22}" if i else f"{h:<10}" for i, h in enumerate(head))]
    for result in results:
        cells = [result["scenario"]]
        for path in servings:
            summary = result["servings"][path]
            rps = summary["rps"]
            cells.append(f"{rps['median']:.0f} ({rps['min']:.0f}-{rps['max']:.0f})")
            cells.append(f"{summary['p99_ms']['median']:.1f}")
        cells += [f"{result['ratios'][path]:.3f}" for path in servings[1:]]
        noise = max(s["other_cpu_pct"]["median"] for s in result["servings"].values())
        cells.append(f"{noise:.0f}")
        lines.append("  ".join(f"{c:>22}" if i else f"{c:<10}" for i, c in enumerate(cells)))
    return "\n".join(lines)


def report_servings(
    args: argparse.Namespace,
    stamp: str,
    started: float,
    database_url: str,
    pin: bool,
    pin_server: bool,
    results: list[dict[str, Any]],
) -> int:
    seconds = time.monotonic() - started
    report = run_report(args, stamp, seconds, hidden(database_url), pin, pin_server)
    report["servings"] = args.servings
    report["scenarios"] = results
    out = OUT / "results" / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(serving_table(args.servings, results))
    print(f"results: {out.relative_to(REPO)}  ({seconds / 60:.1f} min)")
    return 0


def bench_database_url() -> str | None:
    """``BENCH_DATABASE_URL``, if it names a PostgreSQL database that may be dropped."""
    from sqlalchemy.engine import make_url

    from infrastructure.backend import Backend, backend_of

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    parsed_url = make_url(database_url)
    if backend_of(parsed_url) is not Backend.POSTGRESQL or "bench" not in (
        parsed_url.database or ""
    ):
        say("bench: BENCH_DATABASE_URL must be PostgreSQL and its database name contain 'bench'")
        say("       (the database is dropped and recreated)")
        return None
    return database_url


def hidden(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)


def announce(args: argparse.Namespace) -> None:
    """How long the run will take, and whether the machine is quiet enough for it."""
    per_scenario = args.warmup + CEILING_WARMUP_S + 2 * args.runs * args.duration
    if args.layers:  # the service and five layer servers, each warmed up and measured
        per_scenario = args.warmup + len(LAYERS) * (
            CEILING_WARMUP_S + 2 + args.runs * args.duration
        )
    if args.profile:
        per_scenario += args.duration
    say(
        f"bench: {len(args.selected)} scenarios x {args.runs} runs of {args.duration:g} s "
        f"(+ ceiling): about {len(args.selected) * (per_scenario + 4) / 60 + 0.5:.0f} min"
    )
    busy = machine_noise()
    if busy > args.noise_limit:
        say(
            f"bench: warning: other processes are using {busy:.0f}% of a core right now; "
            "the results will be noisy (see the noise column)"
        )


def prepare_database(database_url: str, env: dict[str, str], seed: int) -> None:
    """A new database, migrated and seeded with the bench's dataset."""
    recreate_database(database_url)
    subprocess.run([str(BIN / "conduit"), "migrate"], env=env, check=True, cwd=REPO)
    seed_args = [f"--{name}={value}" for name, value in SEED.items()]
    subprocess.run(
        [str(BIN / "conduit"), "seed", *seed_args, f"--seed={seed}"],
        env=env,
        check=True,
        cwd=REPO,
    )


def service_server(
    env: dict[str, str], workers: int, work: Path, pin_server: bool, log: Path | None = None
) -> Server:
    """``conduit serve`` with the production defaults, on a free port, pinned if asked."""
    port = free_port()
    argv = [str(BIN / "conduit"), "serve", "--port", str(port), "--workers", str(workers)]
    return Server(
        "conduit serve",
        pinned(SERVER_CPU, argv, pin_server),
        env,
        log or work / "service.log",
        port=port,
        ready_path="/api/tags",
    )


def run_report(
    args: argparse.Namespace,
    stamp: str,
    seconds: float,
    database: str,
    pin: bool,
    pin_server: bool,
) -> dict[str, Any]:
    """The run's configuration, machine and commit, for the results file."""
    return {
        "started": stamp,
        "seconds": round(seconds, 1),
        "config": {
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "ceiling_warmup_s": CEILING_WARMUP_S,
            "workers": args.workers,
            "connections": CONNECTIONS,
            "pinned": {
                "server": SERVER_CPU if pin_server else None,
                "wrk": CLIENT_CPU if pin else None,
            },
            "database": database,
            "seed": SEED | {"seed": args.seed, "reused": args.reuse_db},
            "p99_target_ms": P99_TARGET_MS,
            "noise_limit_pct": args.noise_limit,
            "noise_retries": args.noise_retries,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "git": _git(),
    }


def run_scenario(
    scenario: Scenario,
    service: Server,
    fixture: Fixture,
    env: dict[str, str],
    args: argparse.Namespace,
    work: Path,
    pin: bool,
    pin_server: bool,
) -> dict[str, Any]:
    paths = scenario.paths(fixture)
    paths_file = work / f"{scenario.name}.paths"
    paths_file.write_text("\n".join(paths) + "\n")
    captured = capture(service.base_url, scenario, paths[0], fixture.token, work.name)
    response_file = work / f"{scenario.name}.response.json"
    response_file.write_text(json.dumps(captured))

    ceiling = ceiling_server(
        f"ceiling ({scenario.name})",
        response_file,
        "bytes",
        env,
        args,
        work / f"ceiling-{scenario.name}.log",
        pin_server,
    )
    say(f"bench: {scenario.name}: {scenario.title}, {captured['bytes']} bytes per response")
    token = fixture.token
    try:
        ceiling.start()
        warmup = (
            run_wrk(service.base_url, scenario, paths_file, token, args.warmup, pin)
            if args.warmup
            else None
        )
        run_wrk(ceiling.base_url, scenario, paths_file, token, CEILING_WARMUP_S, pin)
        service_runs: list[dict[str, Any]] = []
        ceiling_runs: list[dict[str, Any]] = []
        discarded: list[dict[str, Any]] = []
        retries = args.noise_retries
        while len(service_runs) < args.runs:
            # Alternating, so that a slow patch of the machine hurts both sides alike.
            pair = (
                measured(service, scenario, paths_file, token, args.duration, pin),
                measured(ceiling, scenario, paths_file, token, args.duration, pin),
            )
            noise = max(run["other_cpu_pct"] for run in pair)
            if noise > args.noise_limit and retries > 0:
                retries -= 1
                discarded.append({"service": pair[0], "ceiling": pair[1]})
                say(f"bench: {scenario.name}: other processes took {noise:.0f}% CPU; run again")
                continue
            service_runs.append(pair[0])
            ceiling_runs.append(pair[1])
    finally:
        ceiling.stop()
    profile = profile_run(service, scenario, paths_file, token, args, pin) if args.profile else None

    service_summary = summarise(service_runs)
    ceiling_summary = summarise(ceiling_runs)
    ratio = service_summary["rps"]["median"] / ceiling_summary["rps"]["median"]
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "target": scenario.target,
        "read": scenario.read,
        "paths": len(paths),
        "first_path": paths[0],
        "response_bytes": captured["bytes"],
        "service": service_summary,
        "ceiling": ceiling_summary,
        "ratio": ratio,
        "verdict": verdict(scenario, service_summary, ratio),
        "warmup": warmup,
        "runs": service_runs,
        "ceiling_runs": ceiling_runs,
        "discarded_noisy_runs": discarded,
        "profile": profile,
    }


def profile_run(
    service: Server,
    scenario: Scenario,
    paths_file: Path,
    token: str,
    args: argparse.Namespace,
    pin: bool,
) -> dict[str, Any]:
    """One more run with py-spy sampling the service (not counted in the results)."""
    stacks = OUT / f"profile-{scenario.name}.txt"
    py_spy = pinned(
        CLIENT_CPU,
        [
            _py_spy() or "py-spy",
            "record",
            "--format",
            "raw",
            "--output",
            str(stacks),
            "--rate",
            "200",
            "--duration",
            str(int(args.duration)),
            "--subprocesses",
            "--pid",
            str(service.process.pid if service.process else 0),
        ],
        pin,
    )
    recorder = subprocess.Popen(py_spy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)  # let it attach
        result = run_wrk(service.base_url, scenario, paths_file, token, args.duration, pin)
        recorder.wait(timeout=args.duration + 30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    say(f"bench: {scenario.name}: py-spy stacks in {stacks.relative_to(REPO)}")
    from profile_layers import layers

    return {"stacks": str(stacks.relative_to(REPO)), "wrk": result, "layers": layers(stacks)}


if __name__ == "__main__":
    sys.exit(main())
