"""The transaction rules of SqlAlchemyUnitOfWork, on SQLite and PostgreSQL."""

import sqlite3
import threading
from collections.abc import Callable
from contextlib import nullcontext

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func, insert, select, text

from application.errors import TemporarilyUnavailable
from domain import messages
from domain.errors import AlreadyExists, Forbidden, NotFound
from infrastructure.engine import create_db_engine
from infrastructure.instrumentation import DatabaseMetrics, count_statements, counting_statements
from infrastructure.orm import users
from infrastructure.repositories.shared import Store
from infrastructure.sessions import create_session_factory
from infrastructure.settings import Settings
from infrastructure.transaction_ending import WriteInReadOnlyUnit
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import settings_for
from tests.factories import UserFactory


def usernames(engine: Engine) -> list[str]:
    """What an independent connection sees."""
    with engine.connect() as connection:
        return list(connection.scalars(select(users.c.username).order_by(users.c.username)))


def test_commit_persists_for_other_connections(uow, engine):
    with uow:
        uow.users.add(UserFactory(username="alice"))
        uow.commit()
    assert usernames(engine) == ["alice"]


def test_rolls_back_uncommitted_work_by_default(uow, engine):
    with uow:
        uow.users.add(UserFactory(username="alice"))
    assert usernames(engine) == []


class _RawUsers:
    """A feature's own repository: made by the unit of work on it (its ``Store``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, username: str) -> None:
        self.store.connection().execute(insert(users).values(**_user_row(username)))


def _user_row(username: str) -> dict[str, object]:
    user = UserFactory(username=username)
    return {
        "username": user.username,
        "email": user.email,
        "password_hash": user.password_hash,
        "bio": "",
        "token_generation": 0,
    }


def test_a_features_repository_is_made_once_per_block_on_its_transaction(uow, engine):
    with uow:
        raw = uow.repository(_RawUsers)
        assert uow.repository(_RawUsers) is raw
        assert raw.store is uow
        raw.add("alice")
    assert usernames(engine) == []  # not committed: rolled back with the block

    with uow:
        assert uow.repository(_RawUsers) is not raw
        uow.repository(_RawUsers).add("bob")
        uow.commit()
    assert usernames(engine) == ["bob"]


def _sessions_opened(uow: SqlAlchemyUnitOfWork, engine: Engine) -> Callable[[], float]:
    """How many sessions ``uow`` has opened from now on, as the service's metric counts them."""
    registry = CollectorRegistry()
    DatabaseMetrics(registry).instrument(engine, uow.session_factory)
    return lambda: registry.get_sample_value("conduit_db_sessions_opened_total") or 0.0


def test_a_unit_whose_repositories_only_run_statements_opens_no_session(uow, engine):
    opened = _sessions_opened(uow, engine)
    with uow:
        uow.repository(_RawUsers).add("alice")
        assert uow.reads.profile("alice", None) is not None  # in the same transaction
        uow.commit()
    assert opened() == 0
    assert usernames(engine) == ["alice"]


def test_entities_and_statements_of_a_unit_share_its_transaction(uow, engine):
    opened = _sessions_opened(uow, engine)
    with uow:
        uow.users.add(UserFactory(username="alice"))  # through the session
        uow.repository(_RawUsers).add("bob")  # on the connection
        assert uow.reads.profile("alice", None) is not None
        assert uow.session.connection() is uow.connection()
    assert usernames(engine) == []  # both rolled back with the block
    with uow:
        uow.users.add(UserFactory(username="alice"))
        uow.repository(_RawUsers).add("bob")
        uow.commit()
    assert usernames(engine) == ["alice", "bob"]
    assert opened() == 2  # one per block that loaded or added an entity


@pytest.mark.parametrize(
    "statement",
    [
        insert(users).values(
            username="alice", email="alice@example.com", password_hash="x", bio="", image=""
        ),
        text(
            "INSERT INTO users (username, email, password_hash, bio, image) "
            "VALUES ('alice', 'alice@example.com', 'x', '', '')"
        ),
    ],
    ids=["core insert", "text insert"],
)
def test_rolls_back_uncommitted_statements_run_past_the_orm(uow, engine, statement):
    with uow:
        uow.session.execute(statement)
    assert usernames(engine) == []


@pytest.mark.parametrize("answer", [None, NotFound(messages.ARTICLE_NOT_FOUND)])
def test_a_unit_that_only_read_keeps_prepared_statements(postgresql_url, answer):
    """psycopg forgets its prepared statements on ROLLBACK; a unit of work that only read
    has nothing to roll back, so it ends with COMMIT and the statements stay prepared,
    also when the use case answers with its own error (a lookup's 404)."""
    engine = create_db_engine(settings_for(postgresql_url, pool_size=1))
    uow = SqlAlchemyUnitOfWork(create_session_factory(engine))
    try:
        for _ in range(8):  # psycopg prepares a statement on its 5th execution
            with pytest.raises(NotFound) if answer else nullcontext(), uow:
                uow.reads.tags()
                if answer:
                    raise answer
        with engine.connect() as connection:  # the same pooled connection
            prepared = connection.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
        assert prepared >= 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "error", [RuntimeError("something failed"), Forbidden(messages.ONLY_AUTHOR_CHANGES_ARTICLE)]
)
def test_rolls_back_on_error(uow, engine, error):
    with pytest.raises(type(error)), uow:
        uow.users.add(UserFactory(username="alice"))
        raise error  # after the first write
    assert usernames(engine) == []


def test_work_after_commit_is_rolled_back(uow, engine):
    with uow:
        uow.users.add(UserFactory(username="alice"))
        uow.commit()
        uow.users.add(UserFactory(username="bob"))
    assert usernames(engine) == ["alice"]


def test_explicit_rollback_discards_the_writes_before_it(uow, engine):
    with uow:
        uow.users.add(UserFactory(username="alice"))
        uow.rollback()
        uow.users.add(UserFactory(username="bob"))
        uow.commit()
    assert usernames(engine) == ["bob"]


@pytest.mark.parametrize("fails", [False, True], ids=["after success", "after failure"])
def test_session_closed_and_connection_back_in_the_pool(uow, engine, fails):
    with pytest.raises(RuntimeError) if fails else nullcontext(), uow:
        session = uow.session
        uow.users.add(UserFactory())
        assert engine.pool.checkedout() == 1
        if fails:
            raise RuntimeError("boom")
        uow.commit()
    assert not session.in_transaction()
    assert len(session.identity_map) == 0  # closed: everything expunged
    assert engine.pool.checkedout() == 0


@pytest.mark.parametrize("fails", [False, True], ids=["after success", "after failure"])
@pytest.mark.parametrize("snapshot", [False, True], ids=["statement-wise", "snapshot"])
@pytest.mark.parametrize("loads", [False, True], ids=["read side only", "with an entity"])
def test_a_read_only_unit_returns_its_connection_whatever_happens(
    uow, engine, fails, snapshot, loads
):
    with uow:
        uow.users.add(UserFactory(username="alice"))
        uow.commit()
    with pytest.raises(RuntimeError) if fails else nullcontext(), uow.read_only(snapshot=snapshot):
        assert uow.reads.profile("alice", None) is not None
        if loads:  # a session, opened on the unit's connection, inside its snapshot if any
            assert uow.users.get_by_username("alice") is not None
            assert uow.session.connection() is uow.connection()
        assert engine.pool.checkedout() == 1
        assert _in_transaction(uow) is snapshot
        if fails:
            raise RuntimeError("boom")
    assert engine.pool.checkedout() == 0
    with uow:  # and the next block on the same object may write
        uow.users.add(UserFactory(username="bob"))
        uow.commit()
    assert usernames(engine) == ["alice", "bob"]


def test_a_unit_of_work_cannot_be_entered_twice_at_once(uow):
    with uow, pytest.raises(RuntimeError), uow:
        pass


def test_unique_violation_from_a_race_becomes_already_exists(new_uow, engine):
    """Two units of work both pass the friendly check; the constraint decides."""
    first, second = new_uow(), new_uow()
    with first:
        first.users.add(UserFactory(username="alice", email="a@example.com"))
        first.commit()
    with pytest.raises(AlreadyExists) as raised, second:
        second.users.add(UserFactory(username="alice2", email="a@example.com"))
        second.commit()
    assert raised.value.messages == (messages.EMAIL_TAKEN,)
    with pytest.raises(AlreadyExists) as raised, new_uow() as third:
        third.users.add(UserFactory(username="alice", email="other@example.com"))
        third.commit()
    assert raised.value.messages == (messages.USERNAME_TAKEN,)
    assert usernames(engine) == ["alice"]
    assert engine.pool.checkedout() == 0


@pytest.mark.postgres
def test_exhausted_pool_fails_fast_with_temporarily_unavailable(postgresql_url):
    settings: Settings = settings_for(
        postgresql_url, pool_size=1, pool_max_overflow=0, pool_timeout=0.2
    )
    engine = create_db_engine(settings)
    new_uow = lambda: SqlAlchemyUnitOfWork(create_session_factory(engine))  # noqa: E731
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_connection() -> None:
        with new_uow() as uow:
            uow.session.execute(text("SELECT 1"))
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert holding.wait(5)
        with pytest.raises(TemporarilyUnavailable), new_uow() as uow:
            uow.session.scalar(select(func.count()).select_from(users))
    finally:
        release.set()
        holder.join()
    assert engine.pool.checkedout() == 0
    engine.dispose()


# -- read-only units of work (UnitOfWork.read_only) --------------------------------------------


def _in_transaction(uow: SqlAlchemyUnitOfWork) -> bool:
    """Whether the driver's connection has a transaction open (none in autocommit)."""
    driver = uow.connection().connection.dbapi_connection
    if isinstance(driver, sqlite3.Connection):
        return driver.in_transaction
    return driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE  # type: ignore[union-attr]


def test_a_read_only_unit_reads_without_a_transaction(uow, engine):
    with uow:
        uow.users.add(UserFactory(username="alice"))
        uow.commit()
    count_statements(engine)
    with counting_statements(record=True) as sent, uow.read_only():
        assert uow.users.get_by_username("alice") is not None
        assert not _in_transaction(uow)  # no BEGIN was sent, so no COMMIT will be
    assert [statement.sql for statement in sent.sent] == sent.queries()  # no BEGIN among them
    assert len(sent.queries()) == 1


def test_a_unit_that_may_write_reads_in_a_transaction(uow):
    with uow:
        uow.users.get_by_username("alice")
        assert _in_transaction(uow)


def test_a_read_only_unit_refuses_a_write_and_writes_nothing(uow, engine):
    with pytest.raises(WriteInReadOnlyUnit), uow.read_only():
        uow.repository(_RawUsers).add("mallory")
    assert usernames(engine) == []
    with uow:  # the next unit of work on the same object may write again
        uow.repository(_RawUsers).add("alice")
        uow.commit()
    assert usernames(engine) == ["alice"]


def test_a_read_only_unit_does_not_commit(make_uow):
    uow = make_uow()
    with pytest.raises(RuntimeError, match="does not commit"), uow.read_only():
        uow.commit()


def test_read_only_is_said_before_the_block(make_uow):
    uow = make_uow()
    with pytest.raises(RuntimeError, match="before the 'with' block"), uow:
        uow.read_only()


@pytest.mark.parametrize("snapshot", [False, True])
def test_a_snapshot_sees_one_moment_and_statement_wise_reads_see_each_commit(
    uow, new_uow, snapshot
):
    with uow.read_only(snapshot=snapshot):
        assert uow.users.get_by_username("bob") is None
        with new_uow() as other:
            other.users.add(UserFactory(username="bob"))
            other.commit()
        seen = uow.users.get_by_username("bob")
    assert (seen is None) is snapshot
