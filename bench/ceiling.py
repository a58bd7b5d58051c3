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
what each costs (``bench/run.py --layers``), on the service's serving path (``SERVING``):
``hop`` answers after the hop a use case takes (threads: from a ``def`` endpoint, FastAPI's
threadpool, as many threads as the service has; bridge: an ``async`` endpoint awaiting
``greenlet_spawn``); ``driver`` first reads (``$LAYER_READ``) the profile of
``$LAYER_USERNAME``, the first page of 20 articles, as seen by user id ``$LAYER_VIEWER_ID``,
or the tags, with the plain driver in autocommit (the SELECT alone, as a read-only unit of
work sends it): the same SQL and parameters the service sends, on psycopg from the
service's pool, or on asyncpg from a pool of its own with asyncpg's prepared statements;
``pool`` (bridge only) runs the same on asyncpg, on a connection of the service's pool
(SQLAlchemy's), awaited from inside ``greenlet_spawn``; ``cursor`` runs it on a read-only
``Connection`` (``sessions.read_only_bind``) through the DBAPI cursor of the dialect's
driver adapter, without a ``Statement``; ``lean`` runs the read query itself
(``infrastructure/queries.py``: its ``Statement`` and read model) on such a connection;
``uow`` runs it in a read-only unit of work, as the use case does. Engine and statement are
the service's own (``DATABASE_URL`` and the other settings from the environment).
"""

import argparse
import base64
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Response

RESPONSE_FILE = "CEILING_RESPONSE"
LAYER = "CEILING_LAYER"
LAYERS = ("bytes", "hop", "driver", "pool", "cursor", "lean", "uow")


def _nothing() -> None:
    pass


async def _nothing_async() -> None:
    pass


async def _no_reset(_connection: object) -> None:
    pass


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

    layered = _layer(layer)
    app.router.lifespan_context = layered.lifespan

    if layered.bridged:

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
        async def captured_response_after_awaiting(path: str) -> Response:
            await layered.read_async()
            return Response(body, status_code=status, media_type=content_type)

        return app

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    def captured_response_after_reading(path: str) -> Response:
        layered.read()
        return Response(body, status_code=status, media_type=content_type)

    return app


@dataclass
class _Layered:
    """A layer server's read, on the service's serving path: ``read`` from a ``def``
    endpoint (threads), or ``read_async`` from an ``async`` one (bridge)."""

    bridged: bool
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]
    read: Callable[[], object] = _nothing
    read_async: Callable[[], Awaitable[object]] = _nothing_async


def _layer(layer: str) -> _Layered:
    """The read at ``layer``, on the service's engine, with its statement; on the threadpool
    with the service's number of threads, or on the bridge."""
    from budget import capture_statements
    from sqlalchemy import make_url
    from sqlalchemy.util import await_only, greenlet_spawn

    from api.container import Container
    from application.read_models import ArticleFilter, ReadQueries
    from infrastructure.engine import is_bridged
    from infrastructure.queries import SqlAlchemyReadQueries
    from infrastructure.sessions import read_only_bind

    container = Container()
    settings = container.settings()
    engine = container.engine()
    bridged = is_bridged(engine)
    username, viewer_id = os.environ["LAYER_USERNAME"], int(os.environ["LAYER_VIEWER_ID"])
    kind = os.environ.get("LAYER_READ", "profile")
    threads = settings.pool_size + settings.pool_max_overflow

    def reading(reads: ReadQueries) -> Any:
        if kind == "articles":
            return reads.page(ArticleFilter(limit=20, offset=0).as_list(), viewer_id)
        if kind == "tags":
            return reads.tags()
        return reads.profile(username, viewer_id)

    def the_read() -> Any:
        with container.uow().read_only() as uow:  # as a use case reads
            return reading(uow.reads)

    def captured() -> tuple[str, Any]:
        found, statements, sql = capture_statements(engine, the_read)
        if not found:
            raise SystemExit(f"ceiling: nothing to read for {kind}")
        [_one_statement] = statements
        [(text, driver_parameters)] = sql
        return text, driver_parameters

    read_only = read_only_bind(engine, snapshot=False)
    # The read's SQL, as the driver gets it, captured once; on the bridge, from the server's
    # loop (the app is made inside it), when it starts.
    read: dict[str, Any] = {}

    def capture() -> None:
        read["text"], read["driver"] = captured()

    def cursor() -> None:  # the SQL on a read-only connection's DBAPI cursor
        with read_only.connect() as connection:
            dbapi_cursor = connection.connection.cursor()
            try:
                dbapi_cursor.execute(read["text"], read["driver"])
                dbapi_cursor.fetchall()
            finally:
                dbapi_cursor.close()

    def lean() -> None:  # the read query's Statement and read model, on a plain connection
        with read_only.connect() as connection:
            reading(SqlAlchemyReadQueries(lambda: connection))

    if not bridged:
        capture()
        text, driver_parameters = read["text"], read["driver"]

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

        @asynccontextmanager
        async def threaded(_app: FastAPI) -> AsyncIterator[None]:
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
            yield

        reads = {
            "hop": _nothing,
            "driver": plain_psycopg,
            "cursor": cursor,
            "lean": lean,
            "uow": the_read,
        }
        return _Layered(False, threaded, read=reads[layer])

    import asyncpg

    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def on_the_loop(_app: FastAPI) -> AsyncIterator[None]:
        await greenlet_spawn(capture)
        if layer == "driver":
            dsn = make_url(settings.database_url).set(drivername="postgresql")
            # No reset query on release (asyncpg's default sends one, a round trip per
            # read): the service's pool sends none for a read in autocommit either.
            pool = await asyncpg.create_pool(
                dsn.render_as_string(hide_password=False),
                min_size=threads,
                max_size=threads,
                reset=_no_reset,
            )
            pools.append(pool)
        try:
            yield
        finally:
            for pool in pools:
                await pool.close()
            await greenlet_spawn(engine.dispose)

    async def plain_asyncpg() -> None:
        async with pools[0].acquire() as connection:
            await connection.fetch(read["text"], *read["driver"])

    def pooled_asyncpg() -> None:  # on the service's pool, from inside the bridge
        pooled = engine.raw_connection()
        try:
            await_only(pooled.driver_connection.fetch(read["text"], *read["driver"]))
        finally:
            pooled.close()

    async def bridged_pool() -> None:
        await greenlet_spawn(pooled_asyncpg)

    async def bridged_cursor() -> None:
        await greenlet_spawn(cursor)

    async def bridged_hop() -> None:
        await greenlet_spawn(_nothing)

    async def bridged_lean() -> None:
        await greenlet_spawn(lean)

    async def bridged_read() -> None:
        await greenlet_spawn(the_read)

    reads_async = {
        "hop": bridged_hop,
        "driver": plain_asyncpg,
        "pool": bridged_pool,
        "cursor": bridged_cursor,
        "lean": bridged_lean,
        "uow": bridged_read,
    }
    return _Layered(True, on_the_loop, read_async=reads_async[layer])


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
