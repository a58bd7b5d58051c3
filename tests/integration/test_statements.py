"""Prebuilt statements on the driver (infrastructure/statements.py), on SQLite and PostgreSQL:
what the read side and the repositories rely on, kept as SQLAlchemy's own execution has it."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, bindparam, insert, select, text, update
from sqlalchemy import exc as sa_exc

from application.errors import TemporarilyUnavailable
from domain import messages
from domain.errors import AlreadyExists
from infrastructure.engine import create_db_engine
from infrastructure.instrumentation import count_statements, counting_statements
from infrastructure.orm import users
from infrastructure.queries import value_list
from infrastructure.sessions import create_session_factory
from infrastructure.statements import Statement
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import settings_for

ADD_USER = Statement(
    insert(users)
    .values(
        username=bindparam("name"),
        email=bindparam("email"),
        password_hash="x",  # a literal: sent without being given
        bio="",
        image="",
    )
    .returning(users.c.id)
)
NAME_AND_WHEN = Statement(
    select(
        users.c.username,
        select(value_list(users.c.username)).scalar_subquery(),
        text("'2025-03-04 05:06:07'"),
    ).where(users.c.email == bindparam("email"))
)
RENAME = Statement(
    update(users).where(users.c.email == bindparam("email")).values(username=bindparam("name"))
)


def add_user(connection, name: str) -> int:  # type: ignore[no-untyped-def]
    return ADD_USER.scalar(connection, {"name": name, "email": f"{name}@example.com"})


def test_rows_come_back_by_position_with_the_dialects_conversions(engine: Engine) -> None:
    with engine.begin() as connection:
        first = add_user(connection, "alice")
        second = add_user(connection, "bob")
        rows = NAME_AND_WHEN.rows(connection, {"email": "bob@example.com", "unused": 1})
    assert second == first + 1
    assert len(rows) == 1
    name, all_names, _when = rows[0]
    assert name == "bob"
    assert sorted(all_names) == ["alice", "bob"]  # a list: on SQLite a JSON string, parsed


def test_sqlite_timestamps_come_back_as_datetimes(engine: Engine) -> None:
    from infrastructure.orm import comments

    moment = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    created = Statement(select(comments.c.created_at).where(comments.c.id == bindparam("id")))
    add_comment = Statement(
        insert(comments).values(
            article_id=bindparam("article"),
            author_id=bindparam("author"),
            body="b",
            created_at=bindparam("at"),
            updated_at=bindparam("at"),
        )
    )
    from infrastructure.orm import articles

    add_article = Statement(
        insert(articles)
        .values(
            slug="s", title="t", description="d", body="b", author_id=bindparam("author"),
            created_at=bindparam("at"), updated_at=bindparam("at"),
        )
        .returning(articles.c.id)
    )  # fmt: skip
    with engine.begin() as connection:
        author = add_user(connection, "alice")
        article = add_article.scalar(connection, {"author": author, "at": moment})
        add_comment.run(connection, {"article": article, "author": author, "at": moment})
        stored = created.scalar(connection, {"id": 1})
    assert isinstance(stored, datetime)
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == moment


def test_rowcount_of_a_write(engine: Engine) -> None:
    with engine.begin() as connection:
        add_user(connection, "alice")
        assert RENAME.run(connection, {"email": "alice@example.com", "name": "alicia"}) == 1
        assert RENAME.run(connection, {"email": "nobody@example.com", "name": "x"}) == 0


def test_a_value_the_statement_needs_must_be_given(engine: Engine) -> None:
    with engine.connect() as connection, counting_statements() as sent:
        count_statements(engine)
        with pytest.raises(sa_exc.InvalidRequestError, match="email"):
            RENAME.run(connection, {"name": "x"})
    assert sent.count == 0  # refused before anything was sent


def test_statements_are_counted_and_recorded_as_the_driver_got_them(engine: Engine) -> None:
    count_statements(engine)
    with engine.begin() as connection, counting_statements(record=True) as sent:
        add_user(connection, "alice")
        RENAME.run(connection, {"email": "alice@example.com", "name": "alicia"})
    assert sent.count == len(sent.queries()) == 2
    assert sent.queries()[1] == RENAME._compiled(engine.dialect).sql


def test_a_unit_of_work_that_wrote_with_them_and_did_not_commit_leaves_nothing(
    engine: Engine,
) -> None:
    uow = SqlAlchemyUnitOfWork(create_session_factory(engine))
    with uow:
        add_user(uow.session.connection(), "alice")
    with uow:
        add_user(uow.session.connection(), "bob")
        uow.commit()
    with engine.connect() as connection:
        assert list(connection.scalars(select(users.c.username))) == ["bob"]


def test_a_unique_violation_is_already_exists_as_with_any_statement(engine: Engine) -> None:
    uow = SqlAlchemyUnitOfWork(create_session_factory(engine))
    with uow:
        add_user(uow.session.connection(), "alice")
        uow.commit()
    with pytest.raises(AlreadyExists) as raised, uow:
        ADD_USER.run(uow.session.connection(), {"name": "other", "email": "alice@example.com"})
    assert raised.value.messages == (messages.EMAIL_TAKEN,)
    assert engine.pool.checkedout() == 0


@pytest.mark.postgres
def test_a_connection_killed_under_a_statement_is_invalidated_in_the_pool(
    postgresql_url: str,
) -> None:
    engine = create_db_engine(settings_for(postgresql_url, pool_size=1, pool_ping_idle_seconds=60))
    uow = SqlAlchemyUnitOfWork(create_session_factory(engine))
    admin = create_db_engine(settings_for(postgresql_url))
    pid = Statement(select(text("pg_backend_pid()")))
    try:
        with pytest.raises(TemporarilyUnavailable) as raised, uow:
            connection = uow.session.connection()
            with admin.connect() as other:
                other.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": pid.scalar(connection)}
                )
            pid.scalar(connection)
        cause = raised.value.__cause__
        assert isinstance(cause, sa_exc.DBAPIError)
        assert cause.connection_invalidated
        assert engine.pool.checkedout() == 0
        with uow:  # a new connection, not the dead one back from the pool
            assert pid.scalar(uow.session.connection()) is not None
    finally:
        admin.dispose()
        engine.dispose()
