"""Instructions per use case: the CPU a use case costs, counted, not timed.

    .venv/bin/python bench/instructions.py [--use-cases favorite,create,profile,tags,article]
                                           [--against REV] [--reuse-db]

Requests per second on a shared machine move by tens of percent from one run to the next;
valgrind's callgrind counts the instructions a process executes, the same for the same
work whatever else the machine is doing. So a change to the hot path is compared here,
before and after, by instructions per call.

Each use case runs in process, as the service runs it: the container's service on the
serving engine (``SERVING``; ``auto`` is the greenlet bridge on PostgreSQL), each call
through ``greenlet_spawn`` on the bridge, against the bench database (recreated and seeded
as ``make bench`` does, ``BENCH_DATABASE_URL``). Two child processes per use case run under
callgrind with ``PYTHONHASHSEED=0``: 30 calls to warm up and then ``--calls`` calls, and the
same with ``--more`` calls; the difference of their totals over the difference of calls is
per call, start-up cancelled out. The HTTP layers are not in it: ``make bench --layers``
shows those.

``--against REV`` runs the same with the code of git revision REV (a worktree on
``PYTHONPATH``) and gives the ratio. Children run two at a time; about 2 minutes per use
case and revision. Needs valgrind (``apt-get install -y valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.container import Container

WARM_UP_CALLS = 30
USE_CASES = ("favorite", "create", "profile", "tags", "article")
_TITLES = {
    "favorite": "favorite + unfavorite (one pair)",
    "create": "create an article (2 tags)",
    "profile": "a profile, signed in (read-only)",
    "tags": "the tags (read-only)",
    "article": "an article, signed in (read-only)",
}


def _use_case(container: Container, name: str) -> Callable[[], object]:
    """One call of the use case ``name``, on ``container`` (of the code on ``sys.path``)."""
    from sqlalchemy import text

    from application.articles import ArticleDraft
    from application.caller import Caller

    with container.engine().connect() as connection:
        user_id, generation = connection.execute(
            text("SELECT id, token_generation FROM users WHERE username = 'user0'")
        ).one()
        slug = connection.scalar(text("SELECT slug FROM articles ORDER BY id LIMIT 1"))
    caller = Caller(user_id=user_id, token_generation=generation)
    articles, profiles = container.article_service, container.profile_service
    written = iter(range(10**9))

    def favorite() -> None:
        articles().favorite(slug, caller)
        articles().unfavorite(slug, caller)

    def create() -> None:
        title = f"counted {os.getpid()} {next(written)}"
        articles().create(caller, ArticleDraft(title, "about", "body", ("alpha", "beta")))

    calls: dict[str, Callable[[], object]] = {
        "favorite": favorite,
        "create": create,
        "profile": lambda: profiles().get("user1", caller.user_id),
        "tags": lambda: articles().tags(),
        "article": lambda: articles().get(slug, caller.user_id),
    }
    return calls[name]


def child(name: str, calls: int) -> None:
    """Run ``name`` WARM_UP_CALLS + ``calls`` times, as the service would, and stop."""
    from sqlalchemy.util import greenlet_spawn

    from api.container import Container
    from infrastructure.engine import is_bridged

    container = Container()
    engine = container.engine()
    if not is_bridged(engine):
        call = _use_case(container, name)
        for _ in range(WARM_UP_CALLS + calls):
            call()
        engine.dispose()
        return

    async def on_the_loop() -> None:
        call = await greenlet_spawn(_use_case, container, name)
        for _ in range(WARM_UP_CALLS + calls):
            await greenlet_spawn(call)
        await greenlet_spawn(engine.dispose)

    asyncio.run(on_the_loop())


def counted(tree: Path, name: str, calls: int, database_url: str) -> int:
    """Instructions of a child process running ``calls`` calls with the code in ``tree``."""
    env = os.environ | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": os.environ.get("JWT_SECRET", "x" * 40),
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": str(tree),
        "LOG_REQUESTS": "false",
    }
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        str(calls),
    ]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"instructions: {name} failed in {tree}:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def per_call(tree: Path, name: str, args: argparse.Namespace, database_url: str) -> float:
    with ThreadPoolExecutor(2) as pool:
        fewer, more = pool.map(
            lambda calls: counted(tree, name, calls, database_url), (args.calls, args.more)
        )
    return (more - fewer) / (args.more - args.calls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--use-cases", default=",".join(USE_CASES), help="comma-separated")
    parser.add_argument("--against", metavar="REV", help="also count the code of git REV")
    parser.add_argument("--calls", type=int, default=100, help="calls of the first child")
    parser.add_argument("--more", type=int, default=400, help="calls of the second child")
    parser.add_argument("--reuse-db", action="store_true", help="keep the bench database")
    parser.add_argument("--child", nargs=2, metavar=("USE_CASE", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tooling/, as run.py does
    from run import bench_database_url, prepare_database

    from tooling.harness import REPO

    names = [name for name in args.use_cases.split(",") if name]
    if unknown := set(names) - set(USE_CASES):
        parser.error(f"unknown use cases: {', '.join(sorted(unknown))}")
    if args.more <= args.calls:
        parser.error("--more must be larger than --calls")
    if shutil.which("valgrind") is None:
        raise SystemExit("instructions: needs valgrind (apt-get install -y valgrind)")
    database_url = bench_database_url()
    if database_url is None:
        return 2
    env = os.environ | {"DATABASE_URL": database_url}
    if not args.reuse_db:
        prepare_database(database_url, env, seed=1)

    trees = {"this tree": REPO}
    worktree = None
    if args.against:
        worktree = Path(tempfile.mkdtemp(prefix="conduit-against-"))
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), args.against],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        trees[args.against] = worktree
    started = time.monotonic()
    try:
        counts = {
            (label, name): per_call(tree, name, args, database_url)
            for name in names
            for label, tree in trees.items()
        }
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO)
    print(table(names, list(trees), counts, args))
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


def table(
    names: list[str],
    labels: list[str],
    counts: dict[tuple[str, str], float],
    args: argparse.Namespace,
) -> str:
    head = ["use case", *(f"{label}: instructions per call" for label in labels)]
    if len(labels) == 2:
        head.append(f"this tree / {labels[1]}")
    lines = [
        f"Instructions per call ({args.more} calls - {args.calls} calls, callgrind,"
        " PYTHONHASHSEED=0), in process on the serving engine",
        "| " + " | ".join(head) + " |",
        "|---" + "|---:" * (len(head) - 1) + "|",
    ]
    for name in names:
        row = [_TITLES[name], *(f"{counts[(label, name)]:,.0f}" for label in labels)]
        if len(labels) == 2:
            row.append(f"{counts[(labels[0], name)] / counts[(labels[1], name)]:.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
