"""Shared fixtures: databases (SQLite and PostgreSQL), units of work, the app, factories.

Integration and API tests run on both databases through the ``engine`` fixture. PostgreSQL
comes from ``TEST_DATABASE_URL`` (default: the local server, database ``conduit_test``,
created if missing). Locally it is skipped with a message when unreachable; with ``CI`` set
it is required and an unreachable server fails the run.

Each test starts from empty tables (they are emptied after every test), and the schema is
built by the migrations themselves, so every test also exercises them.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from application.unit_of_work import UnitOfWork
from infrastructure.engine import create_db_engine
from infrastructure.instrumentation import count_statements
from infrastructure.migrations import upgrade_to_head
from infrastructure.orm import empty_tables, map_entities, metadata
from infrastructure.sessions import create_session_factory
from infrastructure.settings import Settings
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.fakes import FakeUnitOfWork

# Mapped first, as the container does: domain objects made by factories before the mapping
# exists would lack instrumentation.
map_entities()

TEST_JWT_SECRET = "a-test-secret-that-is-long-enough-for-hs256"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/conduit_test"


def pg_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)


# The suite registers and logs in hundreds of users from one address: limits it never meets.
# And it may run on a machine so busy that a request waits seconds for its turn: waits that
# end in 503 at production's bounds end here only where no test can reach them. The tests
# of the limits and of the timeouts set small ones.
GENEROUS_LIMITS = {
    "login_failures_per_account": 1_000_000,
    "auth_requests_per_address_per_minute": 1_000_000,
    "admission_timeout_seconds": 600,
    "pool_timeout": 600,
    "lock_timeout_ms": 600_000,
}


def settings_for(database_url: str, **overrides: object) -> Settings:
    return Settings(
        database_url=database_url, jwt_secret=TEST_JWT_SECRET, **{**GENEROUS_LIMITS, **overrides}
    )


def _ensure_pg_database(url: str) -> None:
    """Create the test database if the server is there but the database is not."""
    parsed = make_url(url)
    try:
        create_engine(url).connect().close()
        return
    except OperationalError as error:
        if "does not exist" not in str(error):
            raise
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _reset_schema(url: str) -> None:
    """Drop everything and migrate from nothing: the schema under test is the migrations'."""
    engine = create_engine(url)
    with engine.begin() as connection:
        metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    upgrade_to_head(url)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'conduit.db'}"
    _reset_schema(url)
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> str:
    url = pg_url()
    try:
        _ensure_pg_database(url)
    except OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {url}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {url} (set TEST_DATABASE_URL): {error}")
    _reset_schema(url)
    return url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        empty_tables(connection)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """The production engine factory on a test database; tables are emptied afterwards."""
    with _emptied_after(create_db_engine(settings)) as engine:
        yield engine


@contextmanager
def _emptied_after(engine: Engine) -> Iterator[Engine]:
    try:
        yield engine
    finally:
        _empty_tables(engine)
        engine.dispose()


@pytest.fixture
def session_factory(engine: Engine):  # type: ignore[no-untyped-def]
    return create_session_factory(engine)


@pytest.fixture
def uow(session_factory) -> SqlAlchemyUnitOfWork:  # type: ignore[no-untyped-def]
    return SqlAlchemyUnitOfWork(session_factory)


@pytest.fixture
def new_uow(session_factory):  # type: ignore[no-untyped-def]
    """A factory of fresh units of work, as the container provides them."""
    return lambda: SqlAlchemyUnitOfWork(session_factory)


# -- one test on every unit of work: the fake, SQLAlchemy on SQLite and on PostgreSQL --------

MakeUow = Callable[[], UnitOfWork]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def implementation(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def contract_engine(request: pytest.FixtureRequest, implementation: str) -> Iterator[Engine | None]:
    """The engine behind ``make_uow`` (``None`` for the fake); its statements are counted
    (``infrastructure.instrumentation.counting_statements``) and its tables emptied after."""
    if implementation == "fake":
        yield None
        return
    url = request.getfixturevalue(f"{implementation}_url")
    with _emptied_after(create_db_engine(settings_for(url))) as engine:
        count_statements(engine)
        yield engine


@pytest.fixture
def make_uow(contract_engine: Engine | None) -> MakeUow:
    """Runs a test on every implementation: each call is a new unit of work on the same
    data, as the container gives one per request (only committed work is seen by the next)."""
    if contract_engine is None:
        return FakeUnitOfWork().another
    session_factory = create_session_factory(contract_engine)
    return lambda: SqlAlchemyUnitOfWork(session_factory)


def pytest_report_header() -> str:
    return f"PostgreSQL for tests: {make_url(pg_url()).render_as_string(hide_password=True)}"


ROOT = Path(__file__).resolve().parent.parent
