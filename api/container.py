"""The composition root: settings -> engine -> session factory -> unit of work -> services.

The engine and session factory are one per process (``Singleton``); a unit of work and the
service that uses it are new for every use (``Factory``), so no session is ever shared
between requests or threads. Tests override providers, e.g. ``container.uow.override(...)``.
"""

from collections.abc import Iterator
from typing import Any

from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from application.articles import ArticleService
from application.bookmarks import BookmarkService
from application.comments import CommentService
from application.ports import SystemClock
from application.profiles import ProfileService
from application.users import UserService
from infrastructure.backend import Backend, backend_of
from infrastructure.bookmarks import SqlAlchemyBookmarks
from infrastructure.engine import create_serving_engine
from infrastructure.instrumentation import DatabaseMetrics, counting_statements
from infrastructure.orm import map_entities
from infrastructure.rate_limits import AddressLimit, LimitsLoginAttempts
from infrastructure.readiness import ReadinessProbe
from infrastructure.replicas import ClientPositions, Replicas
from infrastructure.security import Argon2PasswordHasher, BoundedHasher, JwtTokenService
from infrastructure.sessions import create_session_factory
from infrastructure.settings import Settings
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork


def _session_factory(engine: Engine, metrics: DatabaseMetrics) -> sessionmaker[Session]:
    map_entities()  # the domain classes onto the tables, before any session exists
    factory = create_session_factory(engine)
    metrics.instrument(engine, factory)
    return factory


def _engine(settings: Settings) -> Iterator[Engine]:
    """The process's engine (on the serving path's driver: ``api.serving``);
    ``container.shutdown_resources()`` disposes of its pool."""
    engine = create_serving_engine(settings)
    yield engine
    engine.dispose()


def _replicas(settings: Settings, engine: Engine) -> Iterator[Replicas | None]:
    """The read replicas (``DATABASE_REPLICA_URLS``), if any, on the serving path's driver;
    their engines are disposed of by ``container.shutdown_resources()``. The serving process
    runs their checks (``api.process``)."""
    urls = settings.replica_urls
    if not urls:
        yield None
        return
    if backend_of(engine) is not Backend.POSTGRESQL:
        raise RuntimeError("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL")
    replicas = Replicas(
        primary=engine,
        replicas=[
            create_serving_engine(settings.model_copy(update={"database_url": u})) for u in urls
        ],
        max_lag_seconds=settings.replica_max_lag_seconds,
        check_seconds=settings.replica_check_seconds,
    )
    yield replicas
    replicas.close()


def _readiness_probe(settings: Settings) -> Iterator[ReadinessProbe]:
    """The process's probe; ``container.shutdown_resources()`` closes its connection."""
    probe = ReadinessProbe(settings)
    yield probe
    probe.close()


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(Settings)

    engine = providers.Resource(_engine, settings)
    readiness_probe = providers.Resource(_readiness_probe, settings)
    metrics_registry = providers.Singleton(CollectorRegistry)
    db_metrics = providers.Singleton(DatabaseMetrics, metrics_registry)
    counting_statements = providers.Object(counting_statements)
    session_factory = providers.Singleton(_session_factory, engine, db_metrics)
    replicas = providers.Resource(_replicas, settings, engine)
    client_positions = providers.Singleton(
        ClientPositions, max_lag_seconds=settings.provided.replica_max_lag_seconds
    )
    uow = providers.Factory(SqlAlchemyUnitOfWork, session_factory, replicas)

    clock = providers.Singleton(SystemClock)
    password_hasher = providers.Singleton(
        Argon2PasswordHasher,
        time_cost=settings.provided.argon2_time_cost,
        memory_cost_kib=settings.provided.argon2_memory_cost_kib,
        parallelism=settings.provided.argon2_parallelism,
    )
    # The use cases' hasher: the hashes take turns on threads of their own, never the loop's.
    hasher = providers.Singleton(
        BoundedHasher, password_hasher, concurrency=settings.provided.password_hashing_slots
    )
    tokens = providers.Singleton(
        JwtTokenService,
        secret=settings.provided.jwt_secret,
        ttl_seconds=settings.provided.jwt_ttl_seconds,
    )

    # Counts live as long as the process (or in the shared store RATE_LIMIT_STORAGE_URL names).
    login_attempts = providers.Singleton(
        LimitsLoginAttempts,
        storage_url=settings.provided.rate_limit_storage_url,
        limit=settings.provided.login_failures_per_account,
        window_seconds=settings.provided.login_failure_window_seconds,
    )
    auth_address_limit = providers.Singleton(
        AddressLimit,
        storage_url=settings.provided.rate_limit_storage_url,
        per_minute=settings.provided.auth_requests_per_address_per_minute,
        scope="auth",
    )

    user_service = providers.Factory(
        UserService, uow=uow, hasher=hasher, tokens=tokens, login_attempts=login_attempts
    )
    profile_service = providers.Factory(ProfileService, uow=uow)
    article_service = providers.Factory(ArticleService, uow=uow, clock=clock)
    comment_service = providers.Factory(CommentService, uow=uow, clock=clock)
    bookmark_service = providers.Factory(BookmarkService, uow, SqlAlchemyBookmarks, clock)


def services_of(container: Container) -> dict[type, providers.Provider[Any]]:
    """The container's ``Factory`` providers by the class they make: how a router's
    ``service(ArticleService)`` finds its provider (overrides included)."""
    return {
        provider.cls: provider
        for provider in container.providers.values()
        if isinstance(provider, providers.Factory)
    }
