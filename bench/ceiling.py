"""The ceiling: the service's server stack answering from memory, with no database.

A bare FastAPI app that answers every request (any path, GET/POST/PUT/DELETE) with one
captured response of the real service: the same status, content type and bytes. It runs
under uvicorn with the options ``conduit serve`` uses (keep ``main`` in step with
``serve`` in ``api/cli.py``), so the requests per second it reaches are the most that framework,
server and the benchmark's client can do for that response; the service's fraction of it
is what its own work (database, models, serialisation) costs.

    python bench/ceiling.py --response captured.json --port 8100 [--workers 1]

``captured.json`` holds ``{"status": 200, "content_type": "...", "body_base64": "..."}``.

``--layer`` adds the service's layers one at a time below the same answer, to show
what each costs (``bench/run.py --layers``): ``thread`` answers from a ``def`` endpoint
(FastAPI's threadpool hop, as many threads as the service has); ``psycopg`` first reads
(``$LAYER_READ``) the profile of ``$LAYER_USERNAME``, the first page of 20 articles,
as seen by user id ``$LAYER_VIEWER_ID``, or the tags, on a pooled connection with plain
psycopg in autocommit (the SELECT alone, as a read-only unit of work sends it): the same
SQL and parameters the service sends; ``lean`` runs the service's ``Statement`` for it
(``infrastructure/statements.py``) on a read-only connection (``sessions.read_only_bind``);
``uow`` runs the read query itself in a read-only unit of work, as the use case does.
Engine and statement are the service's own (``DATABASE_URL`` and the other settings from
the environment).
"""

import argparse
import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Response

RESPONSE_FILE = "CEILING_RESPONSE"
LAYER = "CEILING_LAYER"
LAYERS = ("bytes", "thread", "psycopg", "lean", "uow")


def create_app() -> FastAPI:
    """The app for the response in the file named by ``$CEILING_RESPONSE``."""
    with open(os.environ[RESPONSE_FILE]) as file:
        captured = json.load(file)
    body = base64.b64decode(captured["body_base64"])
    status = int(captured["status"])
    content_type = captured["content_type"]
    layer = os.environ.get(LAYER, "bytes")

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    if layer == "bytes":

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
        async def captured_response(path: str) -> Response:
            return Response(body, status_code=status, media_type=content_type)

        return app

    read, threads = _read(layer)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app.router.lifespan_context = lifespan

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    def captured_response_after_reading(path: str) -> Response:
        read()
        return Response(body, status_code=status, media_type=content_type)

    return app


def _read(layer: str) -> tuple[Callable[[], None], int]:
    """The profile read at ``layer``, on the service's engine, with its statement, and
    the service's number of threads."""
    from budget import capture_statements

    from api.container import Container
    from application.read_models import ArticleFilter
    from infrastructure.sessions import read_only_bind

    container = Container()
    settings = container.settings()
    engine = container.engine()
    username, viewer_id = os.environ["LAYER_USERNAME"], int(os.environ["LAYER_VIEWER_ID"])
    kind = os.environ.get("LAYER_READ", "profile")

    def the_read() -> Any:
        with container.uow().read_only() as uow:  # as a use case reads
            if kind == "articles":
                return uow.reads.page(ArticleFilter(limit=20, offset=0).as_list(), viewer_id)
            if kind == "tags":
                return uow.reads.tags()
            return uow.reads.profile(username, viewer_id)

    found, statements, sql = capture_statements(engine, the_read)
    if not found:
        raise SystemExit(f"ceiling: nothing to read for {kind}")
    [(statement, parameters)] = statements
    [(text, driver_parameters)] = sql

    def plain_psycopg() -> None:
        pooled = engine.raw_connection()
        connection = pooled.driver_connection
        try:
            connection.autocommit = True  # type: ignore[union-attr]
            with connection.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(text, driver_parameters)
                cursor.fetchall()
        finally:
            connection.autocommit = False  # type: ignore[union-attr]
            pooled.close()  # back to the pool

    def lean() -> None:
        with read_only.connect() as connection:
            statement.rows(connection, parameters)

    read_only = read_only_bind(engine, snapshot=False)
    reads = {"thread": lambda: None, "psycopg": plain_psycopg, "lean": lean, "uow": the_read}
    return reads[layer], settings.pool_size + settings.pool_max_overflow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--response", required=True, help="captured response (JSON)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--layer", choices=LAYERS, default="bytes", help="see above (bytes)")
    args = parser.parse_args()
    # Through the environment, so that worker processes (--workers > 1) find it too.
    os.environ[RESPONSE_FILE] = os.path.abspath(args.response)
    os.environ[LAYER] = args.layer

    import uvicorn

    from api.transport import uvicorn_options
    from infrastructure.settings import Settings

    uvicorn.run(
        "ceiling:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **uvicorn_options(Settings()),
    )


if __name__ == "__main__":
    main()
