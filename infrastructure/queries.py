"""The read side: read models straight from rows, in a fixed number of statements.

An article page is at most three statements whatever its size: the total, the page (with
author, ``following`` and ``favorited`` as correlated EXISTS), and the tags of the page's
articles. No ORM objects are loaded, so nothing can lazy-load.

Every statement is built once per shape (which filters, anonymous or not) with bound
parameters, and reused: building and cache-keying a fresh statement per request cost
about as much as running it (measured with bench/budget.py).
"""

from collections import defaultdict
from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, Select, bindparam, exists, false, func, null, select
from sqlalchemy.orm import Session

from application.read_models import (
    ArticleFilter,
    ArticlePage,
    ArticleView,
    CommentView,
    ProfileView,
)
from infrastructure.orm import article_tags, articles, comments, favorites, follows, tags, users

_VIEWER = bindparam("viewer_id")


class _Shape(NamedTuple):
    """Which conditions an article statement has; one statement is built per shape."""

    tag: bool = False
    author: bool = False
    favorited_by: bool = False
    feed: bool = False
    slug: bool = False


def _utc(moment: datetime) -> datetime:
    # SQLite gives stored timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _following(authenticated: bool, author_id: Any) -> ColumnElement[bool]:
    if not authenticated:
        return false()
    return exists().where(follows.c.follower_id == _VIEWER, follows.c.followee_id == author_id)


def _favorited(authenticated: bool) -> ColumnElement[bool]:
    if not authenticated:
        return false()
    return exists().where(favorites.c.user_id == _VIEWER, favorites.c.article_id == articles.c.id)


def _user_id(parameter: str) -> Any:
    return select(users.c.id).where(users.c.username == bindparam(parameter)).scalar_subquery()


@cache
def _article_conditions(shape: _Shape) -> tuple[ColumnElement[bool], ...]:
    conditions: list[ColumnElement[bool]] = []
    if shape.tag:
        tag_id = select(tags.c.id).where(tags.c.name == bindparam("tag")).scalar_subquery()
        conditions.append(
            articles.c.id.in_(
                select(article_tags.c.article_id).where(article_tags.c.tag_id == tag_id)
            )
        )
    if shape.author:
        conditions.append(articles.c.author_id == _user_id("author"))
    if shape.favorited_by:
        conditions.append(
            articles.c.id.in_(
                select(favorites.c.article_id).where(favorites.c.user_id == _user_id("favorited"))
            )
        )
    if shape.feed:
        followed = select(follows.c.followee_id).where(follows.c.follower_id == _VIEWER)
        conditions.append(articles.c.author_id.in_(followed))
    if shape.slug:
        conditions.append(articles.c.slug == bindparam("slug"))
    return tuple(conditions)


@cache
def _count_statement(shape: _Shape) -> Select[Any]:
    return select(func.count()).select_from(articles).where(*_article_conditions(shape))


@cache
def _articles_statement(shape: _Shape, authenticated: bool, with_body: bool) -> Select[Any]:
    return (
        select(
            articles.c.id,
            articles.c.slug,
            articles.c.title,
            articles.c.description,
            articles.c.body if with_body else null().label("body"),
            articles.c.created_at,
            articles.c.updated_at,
            articles.c.favorites_count,
            _favorited(authenticated).label("favorited"),
            users.c.username,
            users.c.bio,
            users.c.image,
            _following(authenticated, articles.c.author_id).label("following"),
        )
        .join(users, users.c.id == articles.c.author_id)
        .where(*_article_conditions(shape))
        .order_by(articles.c.created_at.desc(), articles.c.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


_TAG_LISTS = (
    select(article_tags.c.article_id, tags.c.name)
    .join(tags, tags.c.id == article_tags.c.tag_id)
    .where(article_tags.c.article_id.in_(bindparam("article_ids", expanding=True)))
)

_TAGS_IN_USE = select(tags.c.name).where(exists().where(article_tags.c.tag_id == tags.c.id))


@cache
def _profile_statement(authenticated: bool) -> Select[Any]:
    return select(
        users.c.username,
        users.c.bio,
        users.c.image,
        _following(authenticated, users.c.id).label("following"),
    ).where(users.c.username == bindparam("username"))


@cache
def _comments_statement(by_id: bool, authenticated: bool) -> Select[Any]:
    condition = (
        comments.c.id == bindparam("comment_id")
        if by_id
        else comments.c.article_id == bindparam("article_id")
    )
    return (
        select(
            comments.c.id,
            comments.c.body,
            comments.c.created_at,
            comments.c.updated_at,
            users.c.username,
            users.c.bio,
            users.c.image,
            _following(authenticated, comments.c.author_id).label("following"),
        )
        .join(users, users.c.id == comments.c.author_id)
        .where(condition)
        .order_by(comments.c.id.desc())
    )


def _profile(row: Row[Any]) -> ProfileView:
    return ProfileView(
        username=row.username, bio=row.bio, image=row.image, following=bool(row.following)
    )


class SqlAlchemyReadQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def profile(self, username: str, viewer_id: int | None) -> ProfileView | None:
        row = self.session.execute(
            _profile_statement(viewer_id is not None),
            {"username": username, "viewer_id": viewer_id},
        ).one_or_none()
        return _profile(row) if row is not None else None

    def article(self, slug: str, viewer_id: int | None) -> ArticleView | None:
        shape = _Shape(slug=True)
        found = self._articles(shape, {"slug": slug}, viewer_id, 1, 0, with_body=True)
        return found[0] if found else None

    def articles(self, filters: ArticleFilter, viewer_id: int | None) -> ArticlePage:
        shape = _Shape(
            tag=filters.tag is not None,
            author=filters.author is not None,
            favorited_by=filters.favorited_by is not None,
        )
        parameters = {
            "tag": filters.tag,
            "author": filters.author,
            "favorited": filters.favorited_by,
        }
        return self._page(shape, parameters, viewer_id, filters.limit, filters.offset)

    def feed(self, viewer_id: int, limit: int, offset: int) -> ArticlePage:
        shape = _Shape(feed=True)
        return self._page(shape, {}, viewer_id, limit, offset)

    def comments(self, article_id: int, viewer_id: int | None) -> list[CommentView]:
        return self._comments(False, {"article_id": article_id}, viewer_id)

    def comment(self, comment_id: int, viewer_id: int | None) -> CommentView | None:
        found = self._comments(True, {"comment_id": comment_id}, viewer_id)
        return found[0] if found else None

    def tags(self) -> list[str]:
        """Tags of at least one article; sorted here, not by the database's collation."""
        return sorted(self.session.scalars(_TAGS_IN_USE))

    # -- building blocks -----------------------------------------------------------------

    def _page(
        self,
        shape: _Shape,
        parameters: dict[str, Any],
        viewer_id: int | None,
        limit: int,
        offset: int,
    ) -> ArticlePage:
        parameters = {**parameters, "viewer_id": viewer_id}
        total = self.session.scalar(_count_statement(shape), parameters) or 0
        found = (
            self._articles(shape, parameters, viewer_id, limit, offset, with_body=False)
            if offset < total
            else []
        )
        return ArticlePage(articles=tuple(found), total=total)

    def _articles(
        self,
        shape: _Shape,
        parameters: dict[str, Any],
        viewer_id: int | None,
        limit: int,
        offset: int,
        *,
        with_body: bool,
    ) -> list[ArticleView]:
        statement = _articles_statement(shape, viewer_id is not None, with_body)
        rows = self.session.execute(
            statement, {**parameters, "viewer_id": viewer_id, "limit": limit, "offset": offset}
        ).all()
        if not rows:
            return []
        tag_lists = self._tag_lists([row.id for row in rows])
        return [
            ArticleView(
                slug=row.slug,
                title=row.title,
                description=row.description,
                body=row.body,
                tag_list=tuple(tag_lists[row.id]),
                created_at=_utc(row.created_at),
                updated_at=_utc(row.updated_at),
                favorited=bool(row.favorited),
                favorites_count=row.favorites_count,
                author=_profile(row),
            )
            for row in rows
        ]

    def _tag_lists(self, article_ids: list[int]) -> dict[int, list[str]]:
        tag_lists: dict[int, list[str]] = defaultdict(list)
        for article_id, name in self.session.execute(_TAG_LISTS, {"article_ids": article_ids}):
            tag_lists[article_id].append(name)
        # Sorted in Python, as the domain sorts them, whatever the database's collation.
        for names in tag_lists.values():
            names.sort()
        return tag_lists

    def _comments(
        self, by_id: bool, parameters: dict[str, Any], viewer_id: int | None
    ) -> list[CommentView]:
        statement = _comments_statement(by_id, viewer_id is not None)
        rows = self.session.execute(statement, {**parameters, "viewer_id": viewer_id}).all()
        return [
            CommentView(
                id=row.id,
                body=row.body,
                created_at=_utc(row.created_at),
                updated_at=_utc(row.updated_at),
                author=_profile(row),
            )
            for row in rows
        ]
