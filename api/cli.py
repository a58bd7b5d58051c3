"""The ``conduit`` command: ``conduit migrate`` and ``conduit serve``."""

import argparse
import sys

from infrastructure.migrations import upgrade_to_head
from infrastructure.settings import Settings


def migrate(_args: argparse.Namespace) -> None:
    settings = Settings()
    upgrade_to_head(settings.database_url)
    print(f"database migrated to the latest schema ({_safe_url(settings.database_url)})")


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    print(f"Conduit API on http://{args.host}:{args.port}/api (docs: /docs)", flush=True)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="auto",
        http="auto",
        access_log=False,
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="conduit", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    commands.add_parser(
        "migrate", help="upgrade the database at DATABASE_URL to the latest schema"
    ).set_defaults(run=migrate)
    serve_parser = commands.add_parser("serve", help="serve the API with uvicorn")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--workers", type=int, default=1)
    serve_parser.set_defaults(run=serve)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
