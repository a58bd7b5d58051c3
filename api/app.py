"""The application factory."""

import importlib
import pkgutil
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

import api.routers
from api.container import Container, services_of
from api.dependencies import declare_optional_auth, endpoints, services_asked_for
from api.errors import install_error_handlers
from api.middleware import HASHES_PASSWORD, Admission, ReadYourWrites, RequestContext
from api.process import serving_process
from api.protection import LIMITED_PER_ADDRESS, AddressRateLimit, SecurityHeaders
from api.serving import ServingPath, UseCaseRunner
from infrastructure.settings import Serving


def routers() -> list[APIRouter]:
    """The ``router`` of every module in ``api/routers``: a new module is served as it is."""
    names = sorted(module.name for module in pkgutil.iter_modules(api.routers.__path__))
    modules = [importlib.import_module(f"api.routers.{name}") for name in names]
    return [
        module.router
        for module in modules
        if isinstance(getattr(module, "router", None), APIRouter)
    ]


def routes_marked(app: FastAPI, mark: str) -> frozenset[tuple[str, str]]:
    """(method, path) of every route that says ``mark`` in its ``openapi_extra``."""
    marked: set[tuple[str, str]] = set()
    for route in endpoints(app):
        extra = getattr(route.original_route, "openapi_extra", None) or {}
        if extra.get(mark) and route.path_format is not None:
            marked.update((method, route.path_format) for method in route.methods or ())
    return frozenset(marked)


def background_work(container: Container, runner: UseCaseRunner) -> list[Coroutine[Any, Any, None]]:
    """What a serving process runs besides its requests: the read replicas' checks."""
    replicas = container.replicas()
    return [runner.every(replicas.check_seconds, replicas.check)] if replicas else []


def create_app(container: Container | None = None) -> FastAPI:
    """Build the app around ``container`` (a new one, reading the environment, by default).

    Nothing connects to the database here: the engine is made on first use, in the
    process that uses it (so worker processes never share a pooled socket).
    """
    container = container or Container()

    settings = container.settings()
    if problem := settings.insecure_for_serving():
        raise RuntimeError(f"refusing to serve: {problem}")
    # Admission (api.middleware): one slot per connection the pool may hand out, so a
    # request that holds a slot never waits long for a connection; and a lane of its own for
    # the requests that hash a password, so that a flood of them cannot take those slots
    # (the hashes themselves take turns in the hasher: infrastructure.security.BoundedHasher).
    # One thread per slot of either lane: an admitted request never waits for a thread.
    slots = settings.pool_size + settings.pool_max_overflow
    password_slots = settings.password_lane_slots
    threads = slots + password_slots
    # How the endpoints run their use cases (api.serving): in those threads, or on the loop.
    runner = UseCaseRunner(bridged=settings.serving_path is Serving.BRIDGE)

    app = FastAPI(
        title="Conduit",
        summary="The RealWorld API, built around a unit of work",
        version="1.0.0",
        # The engine is disposed of at the end, if this process made one.
        lifespan=lambda _app: serving_process(
            threads,
            runner,
            container.shutdown_resources,
            background=lambda: background_work(container, runner),
        ),
        docs_url=None,  # served by api.routers.docs, with pinned assets
        redoc_url=None,
    )
    app.state.container = container
    install_error_handlers(app)
    declare_optional_auth(app)
    for router in routers():
        # Its routes join the app's own list: FastAPI's include_router keeps a router as one
        # nested entry that every request for a later router tries first (the profile read,
        # in the sixth router, was matched in 26 us; in the flat list, 14 us). The routes
        # and the OpenAPI document are the same either way.
        app.router.routes.extend(router.routes)
    app.state.services = services_of(container)
    if unwired := services_asked_for(app) - app.state.services.keys():
        names = ", ".join(sorted(kind.__name__ for kind in unwired))
        raise RuntimeError(f"no provider in api/container.py for {names}")

    # The last added runs first: security headers, request context, CORS, rate limit per
    # address, admission (the body read first).
    app.add_middleware(
        Admission,
        max_bytes=settings.max_body_bytes,
        slots=slots,
        password_slots=password_slots,
        password_routes=routes_marked(app, HASHES_PASSWORD),
        timeout=settings.admission_timeout_seconds,
    )
    if settings.auth_requests_per_address_per_minute:
        app.add_middleware(
            AddressRateLimit,
            limit=container.auth_address_limit(),
            routes=routes_marked(app, LIMITED_PER_ADDRESS),
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    if settings.replica_urls:
        app.add_middleware(ReadYourWrites, positions=container.client_positions())
    app.add_middleware(
        RequestContext,
        registry=container.metrics_registry(),
        log_requests=settings.log_requests,
        counting_statements=container.counting_statements(),
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServingPath, runner=runner)
    return app
