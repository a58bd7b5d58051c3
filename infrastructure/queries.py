"""The read side: read models straight from rows, in a fixed number of statements.

An article page is at most three statements whatever its size: the total, the page (with
author, ``following`` and ``favorited`` as correlated EXISTS), and the tags of the page's
articles. No ORM objects are loaded, so nothing can lazy-load.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, exists, false, func, null, select
from sqlalchemy.orm import Session

from application.read_models import (
    ArticleFilter,
    ArticlePage,
    ArticleView,
    CommentView,
    ProfileView,
)
from infrastructure.orm import article_tags, articles, comments, favorites, follows, tags, users


def _utc(moment: datetime) -> datetime:
    # SQLite gives stored timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _following(viewer_id: int | None, author_id: Any) -> ColumnElement[bool]:
    if viewer_id is None:
        return false()
    return exists().where(follows.c.follower_id == viewer_id, follows.c.followee_id == author_id)


def _favorited(viewer_id: int | None) -> ColumnElement[bool]:
    if viewer_id is None:
        return false()
    return exists().where(favorites.c.user_id == viewer_id, favorites.c.article_id == articles.c.id)


def _user_id(username: str) -> Any:
    return select(users.c.id).where(users.c.username == username).scalar_subquery()


def _profile(row: Row[Any]) -> ProfileView:
    return ProfileView(
        username=row.username, bio=row.bio, image=row.image, following=bool(row.following)
    )


class SqlAlchemyReadQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def profile(self, username: str, viewer_id: int | None) -> ProfileView | None:
        row = self.session.execute(
            select(
                users.c.username,
                users.c.bio,
                users.c.image,
                _following(viewer_id, users.c.id).label("following"),
            ).where(users.c.username == username)
        ).one_or_none()
        return _profile(row) if row is not None else None

    def article(self, slug: str, viewer_id: int | None) -> ArticleView | None:
        rows = self._articles(
            [articles.c.slug == slug], viewer_id, limit=1, offset=0, with_body=True
        )
        return rows[0] if rows else None

    def articles(self, filters: ArticleFilter, viewer_id: int | None) -> ArticlePage:
        conditions: list[ColumnElement[bool]] = []
        if filters.tag is not None:
            tag_id = select(tags.c.id).where(tags.c.name == filters.tag).scalar_subquery()
            conditions.append(
                articles.c.id.in_(
                    select(article_tags.c.article_id).where(article_tags.c.tag_id == tag_id)
                )
            )
        if filters.author is not None:
            conditions.append(articles.c.author_id == _user_id(filters.author))
        if filters.favorited_by is not None:
            conditions.append(
                articles.c.id.in_(
                    select(favorites.c.article_id).where(
                        favorites.c.user_id == _user_id(filters.favorited_by)
                    )
                )
            )
        return self._page(conditions, viewer_id, filters.limit, filters.offset)

    def feed(self, viewer_id: int, limit: int, offset: int) -> ArticlePage:
        followed = select(follows.c.followee_id).where(follows.c.follower_id == viewer_id)
        return self._page([articles.c.author_id.in_(followed)], viewer_id, limit, offset)

    def comments(self, article_id: int, viewer_id: int | None) -> list[CommentView]:
        return self._comments([comments.c.article_id == article_id], viewer_id)

    def comment(self, comment_id: int, viewer_id: int | None) -> CommentView | None:
        found = self._comments([comments.c.id == comment_id], viewer_id)
        return found[0] if found else None

    def tags(self) -> list[str]:
        """Tags of at least one article; sorted here, not by the database's collation."""
        in_use = exists().where(article_tags.c.tag_id == tags.c.id)
        return sorted(self.session.scalars(select(tags.c.name).where(in_use)))

    # -- building blocks -----------------------------------------------------------------

    def _page(
        self, conditions: list[ColumnElement[bool]], viewer_id: int | None, limit: int, offset: int
    ) -> ArticlePage:
        total = self.session.scalar(select(func.count()).select_from(articles).where(*conditions))
        found = (
            self._articles(conditions, viewer_id, limit=limit, offset=offset, with_body=False)
            if total and offset < total
            else []
        )
        return ArticlePage(articles=tuple(found), total=total or 0)

    def _articles(
        self,
        conditions: Sequence[ColumnElement[bool]],
        viewer_id: int | None,
        *,
        limit: int,
        offset: int,
        with_body: bool,
    ) -> list[ArticleView]:
        statement: Select[Any] = (
            select(
                articles.c.id,
                articles.c.slug,
                articles.c.title,
                articles.c.description,
                articles.c.body if with_body else null().label("body"),
                articles.c.created_at,
                articles.c.updated_at,
                articles.c.favorites_count,
                _favorited(viewer_id).label("favorited"),
                users.c.username,
                users.c.bio,
                users.c.image,
                _following(viewer_id, articles.c.author_id).label("following"),
            )
            .join(users, users.c.id == articles.c.author_id)
            .where(*conditions)
            .order_by(articles.c.created_at.desc(), articles.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = self.session.execute(statement).all()
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
        for article_id, name in self.session.execute(
            select(article_tags.c.article_id, tags.c.name)
            .join(tags, tags.c.id == article_tags.c.tag_id)
            .where(article_tags.c.article_id.in_(article_ids))
        ):
            tag_lists[article_id].append(name)
        # Sorted in Python, as the domain sorts them, whatever the database's collation.
        for names in tag_lists.values():
            names.sort()
        return tag_lists

    def _comments(
        self, conditions: list[ColumnElement[bool]], viewer_id: int | None
    ) -> list[CommentView]:
        rows = self.session.execute(
            select(
                comments.c.id,
                comments.c.body,
                comments.c.created_at,
                comments.c.updated_at,
                users.c.username,
                users.c.bio,
                users.c.image,
                _following(viewer_id, comments.c.author_id).label("following"),
            )
            .join(users, users.c.id == comments.c.author_id)
            .where(*conditions)
            .order_by(comments.c.id.desc())
        ).all()
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
