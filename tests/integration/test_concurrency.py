"""Use cases run at the same moment from many threads, each with its own unit of work."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select

from application.articles import ArticleService
from application.ports import SystemClock
from application.users import UserService
from domain.errors import AlreadyExists
from infrastructure.engine import create_db_engine
from infrastructure.orm import articles, favorites, users
from infrastructure.security import Argon2PasswordHasher, JwtTokenService
from infrastructure.sessions import create_session_factory
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import TEST_JWT_SECRET, settings_for
from tests.factories import ArticleFactory, UserFactory, as_caller, store

WORKERS = 50
# Waits without limit (0 is "no timeout" on PostgreSQL); the pool never makes anyone wait.
NO_TIMEOUTS = {
    "pool_timeout": 3600,
    "connect_timeout_seconds": 3600,
    "statement_timeout_ms": 0,
    "lock_timeout_ms": 0,
    "idle_in_transaction_timeout_ms": 0,
    "sqlite_busy_timeout_ms": 3_600_000,
}


@pytest.fixture
def wide_engine(database_url: str, engine: Engine) -> Engine:
    """A pool as wide as the number of threads, and no timeouts at all, so the outcome of the
    race is all the test sees: on a busy machine a racer may wait seconds for the winner's
    lock, and a timeout would turn that wait into a failure the test is not about.

    ``engine`` (the narrow default one) is requested so its teardown empties the tables.
    """
    wide = create_db_engine(settings_for(database_url, pool_size=WORKERS, **NO_TIMEOUTS))
    yield wide
    wide.dispose()


def at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run every call in its own thread, all at the same moment; results or exceptions."""

    def outcome(call: Callable[[], object]) -> object:
        try:
            return call()
        except Exception as error:  # collected and asserted on by the test
            return error

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(outcome, calls))


def count(engine: Engine, statement) -> int:
    with engine.connect() as connection:
        return connection.scalar(statement)


def test_favorites_count_equals_favorite_rows_under_concurrent_favorites(wide_engine):
    new_uow = lambda: SqlAlchemyUnitOfWork(create_session_factory(wide_engine))  # noqa: E731
    author = UserFactory()
    readers, latecomers = UserFactory.create_batch(WORKERS), UserFactory.create_batch(10)
    store(new_uow, author, *readers, *latecomers)
    article = ArticleFactory(author_id=author.id)
    store(new_uow, article)
    service = lambda: ArticleService(new_uow(), SystemClock())  # noqa: E731
    stored = select(articles.c.favorites_count).where(articles.c.id == article.id)
    rows = select(func.count()).select_from(favorites)

    results = at_once([lambda r=r: service().favorite(article.slug, as_caller(r)) for r in readers])
    assert not [r for r in results if isinstance(r, Exception)]
    assert count(wide_engine, stored) == count(wide_engine, rows) == WORKERS

    # All readers unfavorite while the latecomers favorite, each of them twice.
    results = at_once(
        [lambda r=r: service().unfavorite(article.slug, as_caller(r)) for r in readers]
        + [lambda r=r: service().favorite(article.slug, as_caller(r)) for r in latecomers * 2]
    )
    assert not [r for r in results if isinstance(r, Exception)]
    assert count(wide_engine, stored) == count(wide_engine, rows) == len(latecomers)
    assert wide_engine.pool.checkedout() == 0


def test_concurrent_registrations_with_one_email_make_one_user(wide_engine):
    new_uow = lambda: SqlAlchemyUnitOfWork(create_session_factory(wide_engine))  # noqa: E731
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)
    tokens = JwtTokenService(TEST_JWT_SECRET, ttl_seconds=60)

    def register(n: int) -> object:
        # Case and whitespace variants of one address: emails are compared normalised.
        email = [" same@example.com", "SAME@example.com", "same@EXAMPLE.com "][n % 3]
        return UserService(new_uow(), hasher, tokens).register(
            username=f"user{n}", email=email, password="secret"
        )

    results = at_once([lambda n=n: register(n) for n in range(WORKERS)])
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == WORKERS - 1
    assert all(isinstance(f, AlreadyExists) for f in failures), failures
    assert count(wide_engine, select(func.count()).select_from(users)) == 1
    assert wide_engine.pool.checkedout() == 0
