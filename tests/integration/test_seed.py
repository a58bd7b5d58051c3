"""``conduit seed``: bulk demo data that is consistent, deterministic and usable for login."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select

from application.users import UserService
from infrastructure.orm import article_tags, articles, comments, favorites, follows, tags, users
from infrastructure.security import Argon2PasswordHasher, JwtTokenService
from infrastructure.seed import (
    MAX_TAGS_PER_ARTICLE,
    SEED_PASSWORD,
    SeedError,
    SeedPlan,
    email,
    seed_database,
)
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import TEST_JWT_SECRET

PLAN = SeedPlan(users=6, articles=15, tags=4, follows_per_user=2, favorites=20, comments=9, seed=3)
# Real argon2id at its cheapest: the hash is reused for every seeded user anyway.
HASHER = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(table)) or 0


def snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    """The seeded articles as a reader sees them (ids may differ between seeds)."""
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    articles.c.slug,
                    articles.c.title,
                    articles.c.body,
                    articles.c.favorites_count,
                    users.c.username,
                )
                .join(users, users.c.id == articles.c.author_id)
                .order_by(articles.c.slug)
            )
        ]


def test_seed_writes_the_planned_rows(engine: Engine) -> None:
    report = seed_database(engine, PLAN, HASHER)

    assert count(engine, users) == 6
    assert count(engine, follows) == 6 * 2
    assert count(engine, tags) == 4
    assert count(engine, articles) == 15
    assert count(engine, favorites) == 20
    assert count(engine, comments) == 9
    assert count(engine, article_tags) <= 15 * MAX_TAGS_PER_ARTICLE
    assert report.rows["articles"] == 15


def test_favorites_count_equals_the_favorite_rows_of_each_article(engine: Engine) -> None:
    seed_database(engine, PLAN, HASHER)

    favorite_rows = (
        select(func.count())
        .where(favorites.c.article_id == articles.c.id)
        .correlate(articles)
        .scalar_subquery()
    )
    with engine.connect() as connection:
        mismatched = connection.scalar(
            select(func.count()).where(articles.c.favorites_count != favorite_rows)
        )
    assert mismatched == 0


def test_a_seeded_user_logs_in_with_the_documented_password(
    engine: Engine, new_uow: Callable[[], SqlAlchemyUnitOfWork]
) -> None:
    seed_database(engine, PLAN, HASHER)
    service = UserService(new_uow(), HASHER, JwtTokenService(TEST_JWT_SECRET, 60))

    logged_in = service.login(email=email(5), password=SEED_PASSWORD)

    assert logged_in.user.username == "user5"
    assert logged_in.token


def test_the_same_seed_gives_the_same_data(engine: Engine) -> None:
    seed_database(engine, PLAN, HASHER)
    first = snapshot(engine)

    seed_database(engine, PLAN, HASHER, reset=True)

    assert snapshot(engine) == first


def test_seed_refuses_a_database_that_has_data_unless_reset(engine: Engine) -> None:
    seed_database(engine, PLAN, HASHER)

    with pytest.raises(SeedError, match="--reset"):
        seed_database(engine, PLAN, HASHER)
    assert count(engine, users) == 6


def test_impossible_numbers_are_refused_before_writing(engine: Engine) -> None:
    with pytest.raises(SeedError, match="follow at most"):
        seed_database(engine, SeedPlan(users=3, articles=0, follows_per_user=3), HASHER)
    assert count(engine, users) == 0
