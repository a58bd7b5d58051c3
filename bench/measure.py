"""Measuring: wrk runs against a server, the CPU that the server, PostgreSQL and everything
else used meanwhile (from /proc), and the ceiling servers (bench/ceiling.py)."""

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scenarios import BenchError, Scenario

from tooling.harness import REPO, Server, free_port, processes

BENCH = REPO / "bench"
OUT = REPO / ".bench"
CONNECTIONS = 32
CEILING_WARMUP_S = 1.0  # no database, no cache: a second covers connecting and first calls
SERVER_CPU = "0"
CLIENT_CPU = "1"


def _thread_cpu(pid: int) -> dict[tuple[int, int], float]:
    """CPU seconds of each thread of a process, by (pid, thread id)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[(pid, int(tid))] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def _postgres_database(pid: int) -> str | None:
    """The database a PostgreSQL backend serves (from its process title), else None."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            title = file.read().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return None
    # "postgres: 15/main: <user> <database> <host(port)> <state>"; helpers have no host.
    if len(title) >= 5 and ("(" in title[4] or title[4] == "[local]"):
        return title[3]
    return None


def _cpu_snapshot(server: Server) -> dict[str, dict[Any, float]]:
    """CPU seconds so far: the server (and its threads), our PostgreSQL, everything else.

    "other" is the noise: any process that is neither the server, wrk, nor PostgreSQL
    working for the benchmark's database (other databases' backends count as noise).
    """
    from sqlalchemy.engine import make_url

    database = make_url(server.env["DATABASE_URL"]).database
    everyone = processes()
    group = server.process.pid if server.process else -1
    threads: dict[tuple[int, int], float] = {}
    for pid, _comm, pgrp, _cpu in everyone:
        if pgrp == group:
            # By thread id: a thread that starts meanwhile counts from zero, one that ends
            # (an idle threadpool worker) drops out instead of making the sum go backwards.
            threads |= _thread_cpu(pid)
    snapshot: dict[str, dict[Any, float]] = {
        "server": {},
        "postgres": {},
        "other": {},
        # The main thread runs the event loop; the others are the threadpool's.
        "server_loop": {key: cpu for key, cpu in threads.items() if key[0] == key[1]},
        "server_threads": {key: cpu for key, cpu in threads.items() if key[0] != key[1]},
    }
    for pid, comm, pgrp, cpu in everyone:
        if pgrp == group:
            snapshot["server"][pid] = cpu
        elif comm == "postgres" and _postgres_database(pid) in (None, database):
            snapshot["postgres"][pid] = cpu
        elif comm not in ("wrk", "py-spy") and pid != os.getpid():
            snapshot["other"][pid] = cpu
    return snapshot


def _cpu_percent(before: dict[Any, float], after: dict[Any, float], seconds: float) -> float:
    used = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    return 100.0 * used / seconds if seconds > 0 else 0.0


def machine_noise(seconds: float = 2.0) -> float:
    """The CPU, in % of one core, that processes other than this one use right now."""

    def total() -> float:
        return sum(cpu for pid, _c, _g, cpu in processes() if pid != os.getpid())

    before = total()
    time.sleep(seconds)
    return 100 * (total() - before) / seconds


def pinned(cpu: str, argv: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if pin else argv


def run_wrk(
    base_url: str, scenario: Scenario, paths_file: Path, token: str, seconds: float, pin: bool
) -> dict[str, Any]:
    env = os.environ | {
        "BENCH_MODE": scenario.mode,
        "BENCH_PATHS": str(paths_file),
        "BENCH_TOKEN": token if scenario.auth else "",
        "BENCH_RUN": f"{int(time.time() * 1000)}-{secrets.token_hex(3)}",
    }
    argv = pinned(
        CLIENT_CPU,
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "scenario.lua"),
            base_url,
        ],
        pin,
    )
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise BenchError(f"wrk gave no result ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def measured(
    server: Server, scenario: Scenario, paths_file: Path, token: str, seconds: float, pin: bool
) -> dict[str, Any]:
    """One wrk run, with the CPU the server and PostgreSQL used meanwhile."""
    before = _cpu_snapshot(server)
    started = time.monotonic()
    result = run_wrk(server.base_url, scenario, paths_file, token, seconds, pin)
    elapsed = time.monotonic() - started
    after = _cpu_snapshot(server)
    for name in ("server", "server_loop", "server_threads", "postgres", "other"):
        result[f"{name}_cpu_pct"] = round(_cpu_percent(before[name], after[name], elapsed), 1)
    # CPU per request, in ms: what the throughput is made of when the server is saturated.
    requests = max(result["requests"], 1)
    for name in ("server", "server_loop", "server_threads", "postgres"):
        result[f"{name}_cpu_ms_per_request"] = round(
            result[f"{name}_cpu_pct"] * 10 * elapsed / requests, 3
        )
    return result


def ceiling_server(
    name: str,
    response_file: Path,
    layer: str,
    env: dict[str, str],
    args: argparse.Namespace,
    log: Path,
    pin_server: bool,
) -> Server:
    """bench/ceiling.py answering ``response_file`` at ``layer``, on a free port, pinned
    like the service."""
    argv = [sys.executable, str(BENCH / "ceiling.py"), "--response", str(response_file)]
    argv += ["--port", str(port := free_port()), "--workers", str(args.workers)]
    argv += ["--layer", layer]
    return Server(name, pinned(SERVER_CPU, argv, pin_server), env, log, port=port)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
