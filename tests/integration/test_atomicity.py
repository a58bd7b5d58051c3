"""A use case is all or nothing: a failure right after its first write leaves no trace."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from application.articles import ArticleDraft, ArticleService
from application.comments import CommentService
from application.ports import SystemClock
from infrastructure.orm import article_tags, articles, comments, favorites, tags
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.factories import (
    ArticleFactory,
    CommentFactory,
    FavoriteFactory,
    UserFactory,
    as_caller,
    store,
)


class Injected(Exception):
    pass


def failing_after(session_factory, repository: str, method: str) -> Callable[[], Any]:
    """Units of work whose ``repository.method`` does its write, then fails."""

    class FailingUnitOfWork(SqlAlchemyUnitOfWork):
        def __enter__(self):  # type: ignore[no-untyped-def]
            super().__enter__()
            target = getattr(self, repository)
            original = getattr(target, method)

            def write_then_fail(*args: Any, **kwargs: Any) -> Any:
                original(*args, **kwargs)
                self.session.flush()  # whatever it added is sent before the failure
                raise Injected(f"after {repository}.{method}")

            setattr(target, method, write_then_fail)
            return self

    return lambda: FailingUnitOfWork(session_factory)


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.count()).select_from(table))
            for table in (articles, tags, article_tags, favorites, comments)
        } | {
            "favorites_count": connection.scalar(select(func.sum(articles.c.favorites_count))) or 0
        }


@pytest.fixture
def author(new_uow):
    author = UserFactory()
    store(new_uow, author)
    return author


def test_create_article_with_tags_leaves_nothing_when_it_fails(session_factory, engine, author):
    before = counts(engine)
    service = ArticleService(failing_after(session_factory, "articles", "add")(), SystemClock())
    with pytest.raises(Injected):
        service.create(
            as_caller(author), ArticleDraft("Title", "About", "Body", ("new-tag", "other"))
        )
    assert counts(engine) == before
    assert engine.pool.checkedout() == 0


def test_favorite_leaves_neither_row_nor_count_when_it_fails(
    session_factory, new_uow, engine, author
):
    article = ArticleFactory(author_id=author.id)
    store(new_uow, article)
    before = counts(engine)
    service = ArticleService(
        failing_after(session_factory, "articles", "add_favorite")(), SystemClock()
    )
    with pytest.raises(Injected):
        service.favorite(article.slug, as_caller(author))
    assert counts(engine) == before


def test_delete_article_keeps_everything_when_it_fails(session_factory, new_uow, engine, author):
    article = ArticleFactory(author_id=author.id, with_tags=["a", "b"])
    store(new_uow, article)
    store(
        new_uow,
        CommentFactory(article_id=article.id, author_id=author.id),
        FavoriteFactory(user_id=author.id, article_slug=article.slug),
    )
    before = counts(engine)
    service = ArticleService(failing_after(session_factory, "articles", "remove")(), SystemClock())
    with pytest.raises(Injected):
        service.delete(article.slug, as_caller(author))
    assert counts(engine) == before
    assert before["comments"] == 1 and before["favorites"] == 1


def test_delete_article_takes_its_comments_favorites_and_tag_links(new_uow, engine, author):
    article = ArticleFactory(author_id=author.id, with_tags=["a", "b"])
    store(new_uow, article)
    store(
        new_uow,
        CommentFactory(article_id=article.id, author_id=author.id),
        FavoriteFactory(user_id=author.id, article_slug=article.slug),
    )
    ArticleService(new_uow(), SystemClock()).delete(article.slug, as_caller(author))
    after = counts(engine)
    gone = ("articles", "article_tags", "comments", "favorites")
    assert {name: after[name] for name in gone} == dict.fromkeys(gone, 0)
    assert after["tags"] == 2  # tags stay: the tag list is shared


def test_add_comment_leaves_nothing_when_it_fails(session_factory, new_uow, engine, author):
    article = ArticleFactory(author_id=author.id)
    store(new_uow, article)
    before = counts(engine)
    service = CommentService(failing_after(session_factory, "comments", "add")(), SystemClock())
    with pytest.raises(Injected):
        service.add(article.slug, as_caller(author), "a comment")
    assert counts(engine) == before
