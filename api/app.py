"""The application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.container import Container
from api.errors import install_error_handlers
from api.routers import articles, comments, profiles, users


def create_app(container: Container | None = None) -> FastAPI:
    """Build the app around ``container`` (a new one, reading the environment, by default).

    Nothing connects to the database here: the engine is made on first use, in the
    process that uses it (so worker processes never share a pooled socket).
    """
    container = container or Container()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        container.shutdown_resources()  # disposes of the engine, if this process made one

    app = FastAPI(
        title="Conduit",
        summary="The RealWorld API, built around a unit of work",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.container = container
    install_error_handlers(app)
    for module in (users, profiles, articles, comments):
        app.include_router(module.router, prefix="/api")
    return app
