"""Use cases run at the same moment from many threads, each with its own unit of work."""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, insert, select, text

from application.articles import ArticleDraft, ArticleService
from application.ports import SystemClock
from application.users import UserService
from domain.errors import AlreadyExists
from infrastructure.backend import Backend, backend_of
from infrastructure.engine import create_db_engine
from infrastructure.instrumentation import count_statements, counting_statements
from infrastructure.orm import article_tags, articles, favorites, tags, users
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


def _tag_names(engine: Engine) -> dict[str, list[str]]:
    """Each article's tag names, by slug."""
    linked = (
        select(articles.c.slug, tags.c.name)
        .join(article_tags, article_tags.c.article_id == articles.c.id)
        .join(tags, tags.c.id == article_tags.c.tag_id)
        .order_by(tags.c.name)
    )
    with engine.connect() as connection:
        found: dict[str, list[str]] = {}
        for slug, name in connection.execute(linked):
            found.setdefault(slug, []).append(name)
        return found


def test_concurrent_articles_with_one_title_and_new_tags_are_all_written(wide_engine):
    new_uow = lambda: SqlAlchemyUnitOfWork(create_session_factory(wide_engine))  # noqa: E731
    authors = UserFactory.create_batch(20)
    store(new_uow, *authors)
    draft = ArticleDraft("One title", "d", "b", ("brand-new", "also-new"))

    results = at_once(
        [
            lambda a=a: ArticleService(new_uow(), SystemClock()).create(as_caller(a), draft)
            for a in authors
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    # The slug race has one winner; the others take a suffix, in the same unit of work.
    slugs = {view.slug for view in results}
    assert len(slugs) == len(authors) and "one-title" in slugs
    assert _tag_names(wide_engine) == {slug: ["also-new", "brand-new"] for slug in slugs}
    assert count(wide_engine, select(func.count()).select_from(tags)) == 2
    assert wide_engine.pool.checkedout() == 0


def test_a_tag_another_writer_stores_meanwhile_is_linked_too(wide_engine):
    """The other writer's tag commits while the statement that writes the article waits
    for it: that statement neither sees nor inserts it, and still the article gets it."""
    new_uow = lambda: SqlAlchemyUnitOfWork(create_session_factory(wide_engine))  # noqa: E731
    author = UserFactory()
    store(new_uow, author)
    count_statements(wide_engine)
    draft = ArticleDraft("Late tags", "d", "b", ("late", "early"))

    def create() -> int:
        with counting_statements(record=True) as sent:
            ArticleService(new_uow(), SystemClock()).create(as_caller(author), draft)
        return len(sent.queries())

    with wide_engine.connect() as other, ThreadPoolExecutor(max_workers=1) as pool:
        with other.begin():
            other.execute(insert(tags).values(name="late"))
            creating = pool.submit(create)
            waiting = _wait_for_a_lock_wait(wide_engine)
        sent = creating.result()

    assert _tag_names(wide_engine) == {"late-tags": ["early", "late"]}
    if waiting:  # PostgreSQL: the statement waited, then a second one linked "late"
        assert sent == 3
    assert wide_engine.pool.checkedout() == 0


def _wait_for_a_lock_wait(engine: Engine) -> bool:
    """On PostgreSQL, wait until a session of the database waits for a lock; SQLite's
    writer waits for the write lock at BEGIN instead (whatever it sees is committed)."""
    if backend_of(engine) is not Backend.POSTGRESQL:
        time.sleep(0.2)
        return False
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(waiting):
                return True
        time.sleep(0.01)
    raise AssertionError("the writer never waited for the other writer's tag")


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
