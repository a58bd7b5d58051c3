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
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = ROOT / ".bench"
BIN = Path(sys.executable).parent
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/conduit_bench"
SEED = {
    "users": 200,
    "articles": 2000,
    "tags": 30,
    "follows": 10,
    "favorites": 5000,
    "comments": 3000,
}
BENCH_USER = ("user0@example.com", "password")  # see `conduit seed --help`
CONNECTIONS = 32
P99_TARGET_MS = 40.0
CEILING_WARMUP_S = 1.0  # no database, no cache: a second covers connecting and first calls
SERVER_CPU = "0"
CLIENT_CPU = "1"
ARTICLE_SLUGS = 2000  # the single-article scenario rotates over this many slugs
FAVORITE_SLUGS = 256  # more than the connections, so no two requests in flight share one


# -- scenarios -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """What the seeded database offers the scenarios."""

    token: str
    slugs: list[str]  # every article's, in a fixed shuffled order
    comments_slug: str  # the article with the most comments
    comments_count: int
    followed_username: str  # someone the bench user follows


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    mode: str  # "get", "favorite" or "create" (see bench/scenario.lua)
    auth: bool
    target: float  # the minimum fraction of the ceiling
    read: bool  # reads also have the p99 target
    paths: Callable[[Fixture], list[str]]

    @property
    def method(self) -> str:
        return "GET" if self.mode == "get" else "POST"


SCENARIOS = [
    Scenario(
        "list",
        "list articles (anonymous, 20)",
        "get",
        False,
        0.15,
        True,
        lambda f: ["/api/articles?limit=20&offset=0"],
    ),
    Scenario(
        "list_auth",
        "list articles (authenticated, 20)",
        "get",
        True,
        0.15,
        True,
        lambda f: ["/api/articles?limit=20&offset=0"],
    ),
    Scenario(
        "feed",
        "feed (authenticated, 20)",
        "get",
        True,
        0.15,
        True,
        lambda f: ["/api/articles/feed?limit=20&offset=0"],
    ),
    Scenario(
        "article",
        "single article (rotating slugs)",
        "get",
        True,
        0.25,
        True,
        lambda f: [f"/api/articles/{slug}" for slug in f.slugs[:ARTICLE_SLUGS]],
    ),
    Scenario(
        "comments",
        "comments of an article",
        "get",
        True,
        0.25,
        True,
        lambda f: [f"/api/articles/{f.comments_slug}/comments"],
    ),
    Scenario(
        "profile",
        "profile (followed user)",
        "get",
        True,
        0.25,
        True,
        lambda f: [f"/api/profiles/{f.followed_username}"],
    ),
    Scenario("tags", "tags", "get", False, 0.25, True, lambda f: ["/api/tags"]),
    Scenario(
        "favorite",
        "favorite / unfavorite alternating",
        "favorite",
        True,
        0.12,
        False,
        lambda f: [f"/api/articles/{slug}/favorite" for slug in f.slugs[:FAVORITE_SLUGS]],
    ),
    Scenario(
        "create",
        "create article",
        "create",
        True,
        0.12,
        False,
        lambda f: ["/api/articles"],
    ),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


# -- processes -----------------------------------------------------------------------------


class Server:
    """A server process in a session of its own, so that stopping it stops its workers."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.process.returncode} before answering; "
                    f"its log: {self.log_path}\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + ready_path, timeout=2) as response:
                    if 200 <= response.status < 300:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer in {timeout:.0f} s; log: {self.log_path}")

    def pids(self) -> list[int]:
        """The server and its worker processes (its process group)."""
        if self.process is None:
            return []
        return [pid for pid, _comm, pgrp, _cpu in _processes() if pgrp == self.process.pid]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        group = self.process.pid  # its own session: the group id is its pid
        try:
            os.killpg(group, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass
        # Uvicorn's workers leave with their supervisor; make sure none is left behind.
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class BenchError(Exception):
    pass


def _processes() -> list[tuple[int, str, int, float]]:
    """(pid, command name, process group, CPU seconds) of every process, from /proc."""
    found = []
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime ...
        found.append(
            (int(entry), comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / ticks)
        )
    return found


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
    processes = _processes()
    group = server.process.pid if server.process else -1
    threads: dict[tuple[int, int], float] = {}
    for pid, _comm, pgrp, _cpu in processes:
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
    for pid, comm, pgrp, cpu in processes:
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


def _machine_noise(seconds: float = 2.0) -> float:
    """The CPU, in % of one core, that processes other than this one use right now."""

    def total() -> float:
        return sum(cpu for pid, _c, _g, cpu in _processes() if pid != os.getpid())

    before = total()
    time.sleep(seconds)
    return 100 * (total() - before) / seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pinned(cpu: str, argv: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if pin else argv


# -- database ------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def load_fixture(url: str, token: str) -> Fixture:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            slugs = list(connection.scalars(text("SELECT slug FROM articles ORDER BY id")))
            comments_slug, comments_count = connection.execute(
                text(
                    "SELECT a.slug, count(*) FROM comments c JOIN articles a ON a.id = c.article_id"
                    " GROUP BY a.slug ORDER BY count(*) DESC, a.slug LIMIT 1"
                )
            ).one()
            followed = connection.scalar(
                text(
                    "SELECT u.username FROM follows f"
                    " JOIN users me ON me.id = f.follower_id"
                    " JOIN users u ON u.id = f.followee_id"
                    " WHERE me.email = :email ORDER BY u.username LIMIT 1"
                ),
                {"email": BENCH_USER[0]},
            )
    finally:
        engine.dispose()
    random.Random(0).shuffle(slugs)
    return Fixture(
        token=token,
        slugs=slugs,
        comments_slug=comments_slug,
        comments_count=comments_count,
        followed_username=followed,
    )


# -- HTTP and wrk --------------------------------------------------------------------------


def http(
    method: str, url: str, token: str = "", body: dict[str, Any] | None = None
) -> tuple[int, str, bytes]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read()


def log_in(base_url: str) -> str:
    email, password = BENCH_USER
    status, _type, body = http(
        "POST", base_url + "/api/users/login", body={"user": {"email": email, "password": password}}
    )
    if status != 200:
        raise BenchError(f"logging in {email} failed: {status} {body[:300]!r}")
    return json.loads(body)["user"]["token"]


def capture(base_url: str, scenario: Scenario, path: str, token: str, run_id: str) -> dict:
    """The service's response to the scenario's first request, for the ceiling to serve."""
    body = None
    if scenario.mode == "create":
        body = {
            "article": {
                "title": f"Bench {run_id} captured article",
                "description": "Written by wrk",
                "body": "A body long enough to look like a short post, written by the benchmark.",
                "tagList": ["bench", "wrk"],
            }
        }
    status, content_type, content = http(
        scenario.method, base_url + path, token if scenario.auth else "", body
    )
    if not 200 <= status < 300:
        raise BenchError(f"{scenario.name}: {scenario.method} {path} -> {status} {content[:300]!r}")
    return {
        "status": status,
        "content_type": content_type,
        "body_base64": base64.b64encode(content).decode(),
        "bytes": len(content),
        "path": path,
    }


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


# -- summary -------------------------------------------------------------------------------

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


# -- main ----------------------------------------------------------------------------------


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
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_tools(args.profile)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    from sqlalchemy.engine import make_url

    parsed_url = make_url(database_url)
    if parsed_url.get_backend_name() != "postgresql" or "bench" not in (parsed_url.database or ""):
        say("bench: BENCH_DATABASE_URL must be PostgreSQL and its database name contain 'bench'")
        say("       (the database is dropped and recreated)")
        return 2

    pin = (os.cpu_count() or 1) >= 2
    if not pin:
        say("bench: fewer than 2 CPUs: nothing is pinned; the numbers are not comparable")
    pin_server = pin and args.workers == 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = OUT / "runs" / stamp
    work.mkdir(parents=True, exist_ok=True)
    (OUT / "results").mkdir(parents=True, exist_ok=True)
    per_scenario = args.warmup + CEILING_WARMUP_S + 2 * args.runs * args.duration
    if args.layers:  # the service and five layer servers, each warmed up and measured
        per_scenario = args.warmup + len(LAYER_TITLES) * (
            CEILING_WARMUP_S + 2 + args.runs * args.duration
        )
    if args.profile:
        per_scenario += args.duration
    say(
        f"bench: {len(args.selected)} scenarios x {args.runs} runs of {args.duration:g} s "
        f"(+ ceiling): about {len(args.selected) * (per_scenario + 4) / 60 + 0.5:.0f} min"
    )

    busy = _machine_noise()
    if busy > args.noise_limit:
        say(
            f"bench: warning: other processes are using {busy:.0f}% of a core right now; "
            "the results will be noisy (see the noise column)"
        )
    env = os.environ | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": secrets.token_urlsafe(48),
    }
    started = time.monotonic()
    servers: list[Server] = []
    results: list[dict[str, Any]] = []
    try:
        if args.reuse_db:
            say(f"bench: reusing {parsed_url.render_as_string(hide_password=True)}")
        else:
            say(f"bench: recreating {parsed_url.render_as_string(hide_password=True)}")
            recreate_database(database_url)
            subprocess.run([str(BIN / "conduit"), "migrate"], env=env, check=True, cwd=ROOT)
            seed_args = [f"--{name}={value}" for name, value in SEED.items()]
            subprocess.run(
                [str(BIN / "conduit"), "seed", *seed_args, f"--seed={args.seed}"],
                env=env,
                check=True,
                cwd=ROOT,
            )

        port = free_port()
        service = Server(
            "conduit serve",
            pinned(
                SERVER_CPU,
                [
                    str(BIN / "conduit"),
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                ],
                pin_server,
            ),
            env,
            port,
            work / "service.log",
        )
        servers.append(service)
        service.start("/api/tags")
        say(f"bench: service on {service.base_url} (pids {service.pids()})")
        token = log_in(service.base_url)
        fixture = load_fixture(database_url, token)
        say(
            f"bench: {len(fixture.slugs)} articles; comments of {fixture.comments_slug} "
            f"({fixture.comments_count}); profile {fixture.followed_username}"
        )

        layers = [
            run_layers(scenario, service, fixture, database_url, env, args, work, pin, pin_server)
            for scenario in (args.selected if args.layers else [])
        ]
        for scenario in [] if args.layers else args.selected:
            results.append(
                run_scenario(scenario, service, fixture, env, args, work, pin, pin_server)
            )
            say(table(results[-1:]).splitlines()[-1])
    except BenchError as error:
        say(f"bench: {error}")
        return 1
    finally:
        for server in reversed(servers):
            server.stop()

    seconds = time.monotonic() - started
    report = {
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
            "database": parsed_url.render_as_string(hide_password=True),
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
        "scenarios": results,
    }
    out = OUT / "results" / f"{stamp}.json"
    if args.layers:
        report["layers"] = layers
        out.write_text(json.dumps(report, indent=2) + "\n")
        print()
        for found in layers:
            print(layers_table(found, args))
            print()
        print(f"results: {out.relative_to(ROOT)}  ({seconds / 60:.1f} min)")
        return 0
    out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(
        f"Conduit bench, {args.workers} worker(s), {CONNECTIONS} connections, "
        f"median of {args.runs} x {args.duration:g} s"
    )
    print(table(results))
    print(
        f"\n{sum(r['verdict']['met'] for r in results)}/{len(results)} scenarios meet the targets"
    )
    print(f"results: {out.relative_to(ROOT)}  ({seconds / 60:.1f} min)")
    return 0


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
    return Server(name, pinned(SERVER_CPU, argv, pin_server), env, port, log)


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
        ceiling.start("/")
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


# The scenarios --layers can measure: the read each layer server runs (bench/ceiling.py).
LAYER_READS = {"profile": "profile", "list_auth": "articles"}
LAYER_TITLES = {
    "bytes": "the ceiling: captured bytes from an async endpoint",
    "thread": "+ a def endpoint: FastAPI's threadpool hop",
    "psycopg": "+ the read with plain psycopg: BEGIN, SELECT, COMMIT",
    "core": "+ SQLAlchemy Core: engine.connect, execute, commit",
    "session": "+ a Session, as the unit of work opens one",
    "service": "+ the service: middleware, auth, use case, view, JSON",
}


def run_layers(
    scenario: Scenario,
    service: Server,
    fixture: Fixture,
    database_url: str,
    env: dict[str, str],
    args: argparse.Namespace,
    work: Path,
    pin: bool,
    pin_server: bool,
) -> list[dict[str, Any]]:
    """The scenario against bench/ceiling.py at each --layer and the service, alternating
    run by run; one summary per layer, in order."""
    from sqlalchemy import create_engine, text

    paths = scenario.paths(fixture)
    paths_file = work / f"layers-{scenario.name}.paths"
    paths_file.write_text("\n".join(paths) + "\n")
    response_file = work / f"layers-{scenario.name}.response.json"
    response_file.write_text(
        json.dumps(capture(service.base_url, scenario, paths[0], fixture.token, work.name))
    )
    engine = create_engine(database_url)
    with engine.connect() as connection:
        viewer_id = connection.scalar(
            text("SELECT id FROM users WHERE email = :email"), {"email": BENCH_USER[0]}
        )
    engine.dispose()
    layer_env = env | {
        "LAYER_READ": LAYER_READS[scenario.name],
        "LAYER_USERNAME": fixture.followed_username,
        "LAYER_VIEWER_ID": str(viewer_id),
    }
    servers: dict[str, Server] = {}
    try:
        for layer in LAYER_TITLES:
            if layer == "service":
                servers[layer] = service
                continue
            servers[layer] = ceiling_server(
                f"layer {layer}",
                response_file,
                layer,
                layer_env,
                args,
                work / f"layer-{scenario.name}-{layer}.log",
                pin_server,
            )
            servers[layer].start("/")
        for layer, server in servers.items():
            warmup = args.warmup if layer == "service" else CEILING_WARMUP_S
            run_wrk(server.base_url, scenario, paths_file, fixture.token, warmup, pin)
        runs: dict[str, list[dict[str, Any]]] = {layer: [] for layer in servers}
        for round_number in range(args.runs):
            for layer, server in servers.items():
                runs[layer].append(
                    measured(server, scenario, paths_file, fixture.token, args.duration, pin)
                )
            say(f"bench: layers of {scenario.name}: round {round_number + 1} of {args.runs} done")
    finally:
        for layer, server in servers.items():
            if layer != "service":
                server.stop()
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "first_path": paths[0],
        "layers": [
            {"layer": name, "title": LAYER_TITLES[name], **summarise(found), "runs": found}
            for name, found in runs.items()
        ],
    }


def layers_table(found: dict[str, Any], args: argparse.Namespace) -> str:
    """req/s and CPU per request of each layer; ``adds`` is the CPU it adds to the one above."""
    layers = found["layers"]
    ceiling = layers[0]["rps"]["median"]
    header = (
        f"{'layer':<8} {'what it adds':<55} {'req/s':>7} {'of ceiling':>10} "
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
            f"{layer['layer']:<8} {layer['title']:<55} {layer['rps']['median']:>7.0f} "
            f"{layer['rps']['median'] / ceiling:>10.1%} "
            f"{cpu:>6.3f} ({layer['server_loop_cpu_ms_per_request']['median']:.3f}+"
            f"{layer['server_threads_cpu_ms_per_request']['median']:.3f}) "
            f"{cpu - previous:>+7.3f} {layer['postgres_cpu_ms_per_request']['median']:>6.2f} "
            f"{layer['other_cpu_pct']['median']:>4.0f}%"
        )
        previous = cpu
    return "\n".join(lines)


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
    say(f"bench: {scenario.name}: py-spy stacks in {stacks.relative_to(ROOT)}")
    sys.path.insert(0, str(BENCH))
    from profile_layers import layers

    return {"stacks": str(stacks.relative_to(ROOT)), "wrk": result, "layers": layers(stacks)}


if __name__ == "__main__":
    sys.exit(main())
