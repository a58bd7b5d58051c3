"""The summary of the runs, the verdict against the issue's targets, and the tables."""

import argparse
import statistics
from typing import Any

from measure import CONNECTIONS
from scenarios import Scenario

P99_TARGET_MS = 40.0

METRICS = (
    "rps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "server_cpu_pct",
    "server_loop_cpu_pct",
    "server_threads_cpu_pct",
    "postgres_cpu_pct",
    "other_cpu_pct",
    "server_cpu_ms_per_request",
    "server_loop_cpu_ms_per_request",
    "server_threads_cpu_ms_per_request",
    "postgres_cpu_ms_per_request",
)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for metric in METRICS:
        values = [run[metric] for run in runs]
        summary[metric] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }
    summary["non2xx"] = sum(run["non2xx"] for run in runs)
    summary["errors"] = sum(sum(run["errors"].values()) for run in runs)
    summary["requests"] = sum(run["requests"] for run in runs)
    return summary


def verdict(scenario: Scenario, service: dict[str, Any], ratio: float) -> dict[str, Any]:
    checks = {
        "ratio": ratio >= scenario.target,
        "non2xx": service["non2xx"] == 0 and service["errors"] == 0,
    }
    if scenario.read:
        checks["p99"] = service["p99_ms"]["median"] <= P99_TARGET_MS
    return {"met": all(checks.values()), "checks": checks}


def table(results: list[dict[str, Any]]) -> str:
    """One line per scenario; CPU columns are the service's, medians of the measured runs.

    ``srv cpu`` is the service's share of a core; ``ms/req`` its CPU per request as
    event-loop thread + worker threads; ``pg ms`` PostgreSQL's CPU per request; ``noise``
    the CPU other processes took meanwhile (of one core; the machine has two).
    """
    header = (
        f"{'scenario':<10} {'req/s':>7} {'(min-max)':>11} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'ceiling':>7} {'ratio':>6} {'target':>6} {'srv cpu':>7} "
        f"{'ms/req (loop+thr)':>18} {'pg ms':>6} {'noise':>5}  met"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        service, ceiling = result["service"], result["ceiling"]
        rps = service["rps"]
        spread = f"{rps['min']:.0f}-{rps['max']:.0f}"
        per_request = (
            f"{service['server_cpu_ms_per_request']['median']:.2f} "
            f"({service['server_loop_cpu_ms_per_request']['median']:.2f}+"
            f"{service['server_threads_cpu_ms_per_request']['median']:.2f})"
        )
        failed = [name for name, ok in result["verdict"]["checks"].items() if not ok]
        lines.append(
            f"{result['scenario']:<10} {rps['median']:>7.0f} {spread:>11} "
            f"{service['p50_ms']['median']:>7.1f} {service['p99_ms']['median']:>7.1f} "
            f"{service['non2xx'] + service['errors']:>7} {ceiling['rps']['median']:>7.0f} "
            f"{result['ratio']:>6.1%} {result['target']:>6.0%} "
            f"{service['server_cpu_pct']['median']:>6.0f}% {per_request:>18} "
            f"{service['postgres_cpu_ms_per_request']['median']:>6.2f} "
            f"{service['other_cpu_pct']['median']:>4.0f}%  "
            + ("yes" if result["verdict"]["met"] else "NO (" + ", ".join(failed) + ")")
        )
    return "\n".join(lines)


def layers_table(found: dict[str, Any], args: argparse.Namespace) -> str:
    """req/s and CPU per request of each layer; ``adds`` is the CPU it adds to the one above."""
    layers = found["layers"]
    ceiling = layers[0]["rps"]["median"]
    # The target: the service keeps 75% of the same SQL hand-written on the driver.
    driver = next((layer["rps"]["median"] for layer in layers if layer["layer"] == "driver"), 0)
    header = (
        f"{'layer':<8} {'what it adds':<58} {'req/s':>7} {'of ceiling':>10} {'of driver':>9} "
        f"{'ms/req (loop+thr)':>18} {'adds ms':>7} {'pg ms':>6} {'noise':>5}"
    )
    lines = [
        f"Layers of {found['scenario']}: {found['title']}, {found['first_path']}, "
        f"{args.workers} worker(s), {CONNECTIONS} connections, "
        f"median of {args.runs} x {args.duration:g} s",
        header,
        "-" * len(header),
    ]
    previous = 0.0
    for layer in layers:
        cpu = layer["server_cpu_ms_per_request"]["median"]
        lines.append(
            f"{layer['layer']:<8} {layer['title']:<58} {layer['rps']['median']:>7.0f} "
            f"{layer['rps']['median'] / ceiling:>10.1%} "
            + (f"{layer['rps']['median'] / driver:>9.1%} " if driver else f"{'':>9} ")
            + f"{cpu:>6.3f} ({layer['server_loop_cpu_ms_per_request']['median']:.3f}+"
            f"{layer['server_threads_cpu_ms_per_request']['median']:.3f}) "
            f"{cpu - previous:>+7.3f} {layer['postgres_cpu_ms_per_request']['median']:>6.2f} "
            f"{layer['other_cpu_pct']['median']:>4.0f}%"
        )
        previous = cpu
    return "\n".join(lines)


def print_results(
    args: argparse.Namespace, results: list[dict[str, Any]], layers: list[dict[str, Any]]
) -> None:
    """The scenarios' table (or, with ``--layers``, one table per read) on stdout."""
    if args.layers:
        for found in layers:
            print(layers_table(found, args))
            print()
        return
    print(
        f"Conduit bench, {args.workers} worker(s), {CONNECTIONS} connections, "
        f"median of {args.runs} x {args.duration:g} s"
    )
    print(table(results))
    met = sum(r["verdict"]["met"] for r in results)
    print(f"\n{met}/{len(results)} scenarios meet the targets")
