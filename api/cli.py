"""The ``conduit`` command: ``conduit migrate``, ``conduit serve`` and ``conduit seed``."""

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from infrastructure.migrations import MigrationRefused, upgrade_to_head
from infrastructure.settings import Settings


def migrate(_args: argparse.Namespace) -> None:
    settings = Settings()
    try:
        upgrade_to_head(settings.database_url)
    except MigrationRefused as refused:
        sys.exit(f"conduit migrate: refused: {refused}")
    print(f"database migrated to the latest schema ({_safe_url(settings.database_url)})")


def ensure_secret(args: argparse.Namespace) -> None:
    """Give a fresh checkout a signing secret of its own: ``make run`` calls this first."""
    from infrastructure.secrets import ensure_jwt_secret

    written = ensure_jwt_secret(Path(args.env_file))
    if written:
        print(
            f"conduit: wrote a new random JWT_SECRET to {args.env_file} (git-ignored). Keep it:"
            " tokens signed with it stop working if it changes.",
            flush=True,
        )


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from api.transport import allow_open_files, uvicorn_options
    from infrastructure.connection_budget import connection_budget_problem

    settings = Settings()
    problem = settings.insecure_for_serving() or connection_budget_problem(settings, args.workers)
    if problem:
        sys.exit(f"conduit: refusing to start: {problem}")
    if warning := allow_open_files(settings):
        print(f"conduit: warning: {warning}", file=sys.stderr, flush=True)

    print(f"Conduit API on http://{args.host}:{args.port}/api (docs: /docs)", flush=True)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=_LOG_CONFIG,
        # On SIGTERM: stop accepting, let in-flight requests finish for this long, then the
        # lifespan disposes of the engine (its connections close).
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        **uvicorn_options(settings),
    )


def seed(args: argparse.Namespace) -> None:
    from infrastructure.engine import create_db_engine
    from infrastructure.security import Argon2PasswordHasher
    from infrastructure.seed import SeedError, SeedPlan, StderrProgress, seed_database

    settings = Settings()
    plan = SeedPlan(
        users=args.users,
        articles=args.articles,
        tags=args.tags,
        follows_per_user=args.follows,
        favorites=args.favorites,
        comments=args.comments,
        seed=args.seed,
    )
    hasher = Argon2PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost_kib=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
    )
    engine = create_db_engine(settings)
    progress = StderrProgress()
    try:
        report = seed_database(engine, plan, hasher, reset=args.reset, progress=progress)
    except SeedError as error:
        progress.close()
        sys.exit(f"conduit seed: {error}")
    finally:
        engine.dispose()
    progress.close()
    rows = ", ".join(f"{count} {table}" for table, count in report.rows.items())
    print(
        f"seeded {_safe_url(settings.database_url)} in {report.seconds:.1f} s: {rows}",
        flush=True,
    )


_SEED_HELP = """\
Fill the database at DATABASE_URL (migrated first: conduit migrate) with realistic data,
written with bulk SQL inserts in one transaction. The same --seed gives the same data.

Users are user0, user1, ... with emails user0@example.com, ... and the password
"password" for all of them. Each user follows --follows others; each article has 0-5 tags
from a pool of --tags; --favorites and --comments are totals. Timestamps are spread over
2025.

The database must be empty (no users, articles or tags): seed refuses otherwise.
--reset empties every table first (all existing data is deleted).
"""


_LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "message": {"format": "%(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
        "requests": {
            "class": "logging.StreamHandler",
            "formatter": "message",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "conduit": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        # One JSON object per line, on stdout, for log shippers.
        "conduit.request": {"handlers": ["requests"], "level": "INFO", "propagate": False},
    },
}


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="conduit", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    commands.add_parser(
        "migrate", help="upgrade the database at DATABASE_URL to the latest schema"
    ).set_defaults(run=migrate)
    secret_parser = commands.add_parser(
        "ensure-secret",
        help="write a random JWT_SECRET to .env unless one is set (in the environment or there)",
    )
    secret_parser.add_argument("--env-file", default=".env", metavar="PATH")
    secret_parser.set_defaults(run=ensure_secret)
    serve_parser = commands.add_parser("serve", help="serve the API with uvicorn")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--workers", type=int, default=1)
    serve_parser.add_argument(
        "--timeout-graceful-shutdown",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="on SIGTERM, how long in-flight requests may take to finish (default 10)",
    )
    serve_parser.set_defaults(run=serve)
    seed_parser = commands.add_parser(
        "seed",
        help="fill the database with realistic data (bulk SQL, deterministic)",
        description=_SEED_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, default, meaning in (
        ("--users", 200, "users"),
        ("--articles", 2000, "articles"),
        ("--tags", 30, "tags in the pool"),
        ("--follows", 10, "follows per user"),
        ("--favorites", 5000, "favorites in total"),
        ("--comments", 3000, "comments in total"),
        ("--seed", 0, "seed of the random generator"),
    ):
        seed_parser.add_argument(
            flag, type=int, default=default, metavar="N", help=f"{meaning} (default {default})"
        )
    seed_parser.add_argument(
        "--reset",
        action="store_true",
        help="empty every table first (deletes all data); without it the database must be empty",
    )
    seed_parser.set_defaults(run=seed)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except ValidationError as error:
        problems = "; ".join(e["msg"] for e in error.errors())
        sys.exit(f"conduit: invalid configuration: {problems}")


if __name__ == "__main__":
    main(sys.argv[1:])
