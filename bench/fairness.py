"""Overload fairness: reads and writes at once, more clients than pool connections.

    .venv/bin/python bench/fairness.py [--serving thread,bridge] [--runs 3] [--duration 10]
                                       [--pool-size 4]

On the bench's database (run ``make bench`` once first: this reuses what it seeded), one
service per serving path with POOL_SIZE=--pool-size, each pinned like the bench's service.
Per run and path, two wrk processes at once for --duration seconds, 32 connections each: the
``profile`` read and the ``favorite`` toggle (a write): 64 clients on a pool of 4 (and the
admission's 4 slots). The issue's bar: p99 of the writes within 2x the p99 of the reads,
whichever path serves. Paths alternate run by run; medians are printed and written to
``.bench/results/fairness-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tooling/

from measure import OUT, run_wrk, say
from run import bench_database_url, check_tools, service_server
from scenarios import BY_NAME, load_fixture, log_in

from tooling.harness import REPO, Server

READ, WRITE = BY_NAME["profile"], BY_NAME["favorite"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serving", default="thread,bridge", help="paths to compare")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--pool-size", type=int, default=4)
    args = parser.parse_args(argv)
    check_tools(profile=False)
    database_url = bench_database_url()
    if database_url is None:
        return 2
    pin = (os.cpu_count() or 1) >= 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = OUT / "runs" / f"fairness-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    env = os.environ | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "POOL_SIZE": str(args.pool_size),
        "POOL_MAX_OVERFLOW": "0",
        "LOG_REQUESTS": "false",
    }
    servings = [path.strip() for path in args.serving.split(",") if path.strip()]
    servers: dict[str, Server] = {}
    runs: dict[str, list[dict[str, Any]]] = {path: [] for path in servings}
    try:
        for path in servings:
            servers[path] = server = service_server(
                env | {"SERVING": path}, 1, work, pin, log=work / f"service-{path}.log"
            )
            server.start()
        fixture = load_fixture(database_url, log_in(servers[servings[0]].base_url))
        files = {}
        for scenario in (READ, WRITE):
            files[scenario.name] = work / f"{scenario.name}.paths"
            files[scenario.name].write_text("\n".join(scenario.paths(fixture)) + "\n")
        for _ in range(args.runs):
            for path, server in servers.items():
                with ThreadPoolExecutor(max_workers=2) as both:
                    reads, writes = (
                        both.submit(
                            run_wrk,
                            server.base_url,
                            scenario,
                            files[scenario.name],
                            fixture.token,
                            args.duration,
                            pin,
                        )
                        for scenario in (READ, WRITE)
                    )
                    run = {"reads": reads.result(), "writes": writes.result()}
                run["ratio"] = run["writes"]["p99_ms"] / run["reads"]["p99_ms"]
                runs[path].append(run)
                say(
                    f"fairness: {path}: p99 reads {run['reads']['p99_ms']:.1f} ms, writes "
                    f"{run['writes']['p99_ms']:.1f} ms (x{run['ratio']:.2f})"
                )
    finally:
        for server in servers.values():
            server.stop()
    summary = {
        path: {
            "reads_p99_ms": statistics.median(r["reads"]["p99_ms"] for r in found),
            "writes_p99_ms": statistics.median(r["writes"]["p99_ms"] for r in found),
            "writes_over_reads": statistics.median(r["ratio"] for r in found),
            "reads_rps": statistics.median(r["reads"]["rps"] for r in found),
            "writes_rps": statistics.median(r["writes"]["rps"] for r in found),
            "non2xx": sum(r[k]["non2xx"] for r in found for k in ("reads", "writes")),
        }
        for path, found in runs.items()
    }
    out = OUT / "results" / f"fairness-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "summary": summary, "runs": runs}, indent=2))
    print(f"\n{'path':<8} {'reads p99':>10} {'writes p99':>11} {'writes/reads':>13} {'non2xx':>7}")
    for path, s in summary.items():
        print(
            f"{path:<8} {s['reads_p99_ms']:>10.1f} {s['writes_p99_ms']:>11.1f} "
            f"{s['writes_over_reads']:>13.2f} {s['non2xx']:>7}"
        )
    print(f"results: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    say(f"fairness: {(time.monotonic() - started) / 60:.1f} min")
    sys.exit(code)
