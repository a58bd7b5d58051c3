"""The read side: read models straight from rows, in a fixed number of statements.

An article page is one statement whatever its size: the page with the total (an
uncorrelated subquery, evaluated once), the author, ``following`` and ``favorited`` (as
correlated EXISTS) and the tags (a JSON array per article). Only a page past the end,
which has no row to carry the total, costs a second statement to count. No ORM objects
are loaded, so nothing can lazy-load. Statements run on the session's Core connection:
they select columns, not entities, so the ORM's execution layer has nothing to add.

Every statement counts: each costs the service a round trip (about 0.05 ms of CPU) and
SQLAlchemy's execution (about 0.09 ms), measured with ``bench/run.py --layers``.

Every statement is built once per shape (which filters, anonymous or not) with bound
parameters, and reused: building and cache-keying a fresh statement per request cost
about as much as running it (measured with bench/budget.py).
"""

from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Row,
    Select,
    bindparam,
    exists,
    false,
    func,
    null,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from application.caller import Caller
from application.read_models import (
    ArticleFilter,
    ArticlePage,
    ArticleView,
    CommentView,
    ProfileView,
)
from domain.users import username_key
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


class json_list(GenericFunction[Any]):
    """The aggregated values as a JSON array: ``json_agg`` on PostgreSQL (NULL for no
    rows), ``json_group_array`` on SQLite (``[]``)."""

    type = JSON()
    inherit_cache = True


@compiles(json_list, "postgresql")
def _json_list_postgresql(element: json_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"


@compiles(json_list, "sqlite")
def _json_list_sqlite(element: json_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


# The names of an article's tags, as a JSON array (order is the domain's, applied in Python).
_TAG_NAMES = (
    select(json_list(tags.c.name))
    .select_from(article_tags.join(tags, tags.c.id == article_tags.c.tag_id))
    .where(article_tags.c.article_id == articles.c.id)
    .scalar_subquery()
)


def _by_username(parameter: str) -> ColumnElement[bool]:
    """The user whose name is the parameter in any case (its ``username_key``): the unique
    index is on ``lower(username)``, so this is an index lookup."""
    return func.lower(users.c.username) == bindparam(parameter)


def _user_id(parameter: str) -> Any:
    return select(users.c.id).where(_by_username(parameter)).scalar_subquery()


# The feed's reader, in the session generation of their token: no rows at all otherwise.
_reader = users.alias("reader")
_CURRENT_SESSION = exists().where(
    _reader.c.id == _VIEWER, _reader.c.token_generation == bindparam("token_generation")
)


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
        # The session check rides along (uncorrelated: evaluated once), so a token of an
        # ended session reads an empty feed and the service then refuses it.
        followed = select(follows.c.followee_id).where(
            follows.c.follower_id == _VIEWER, _CURRENT_SESSION
        )
        conditions.append(articles.c.author_id.in_(followed))
    if shape.slug:
        conditions.append(articles.c.slug == bindparam("slug"))
    return tuple(conditions)


@cache
def _count_statement(shape: _Shape) -> Select[Any]:
    return select(func.count()).select_from(articles).where(*_article_conditions(shape))


@cache
def _articles_statement(
    shape: _Shape, authenticated: bool, with_body: bool, with_total: bool
) -> Select[Any]:
    total = _count_statement(shape).scalar_subquery() if with_total else null()
    return (
        select(  # in the order _article unpacks
            total.label("total"),
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
            _TAG_NAMES.label("tag_names"),
        )
        .join(users, users.c.id == articles.c.author_id)
        .where(*_article_conditions(shape))
        .order_by(articles.c.created_at.desc(), articles.c.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


_TAGS_IN_USE = select(tags.c.name).where(exists().where(article_tags.c.tag_id == tags.c.id))


@cache
def _profile_statement(authenticated: bool) -> Select[Any]:
    return select(  # in the order _profile takes
        users.c.username,
        users.c.bio,
        users.c.image,
        _following(authenticated, users.c.id).label("following"),
    ).where(_by_username("username"))


def _comment_columns(authenticated: bool) -> tuple[ColumnElement[Any], ...]:
    """A comment with its author, in the order _comment unpacks."""
    return (
        comments.c.id,
        comments.c.body,
        comments.c.created_at,
        comments.c.updated_at,
        users.c.username,
        users.c.bio,
        users.c.image,
        _following(authenticated, comments.c.author_id).label("following"),
    )


@cache
def _comment_statement(authenticated: bool) -> Select[Any]:
    return (
        select(*_comment_columns(authenticated))
        .join(users, users.c.id == comments.c.author_id)
        .where(comments.c.id == bindparam("comment_id"))
    )


@cache
def _article_comments_statement(authenticated: bool) -> Select[Any]:
    """The article's comments: no row if there is no such article, one with a NULL
    comment id if it has no comments (so one statement tells both)."""
    return (
        select(*_comment_columns(authenticated))
        .select_from(articles)
        .outerjoin(comments, comments.c.article_id == articles.c.id)
        .outerjoin(users, users.c.id == comments.c.author_id)
        .where(articles.c.slug == bindparam("slug"))
        .order_by(comments.c.id.desc())
    )


def _profile(username: str, bio: str, image: str, following: Any) -> ProfileView:
    return ProfileView(username=username, bio=bio, image=image, following=bool(following))


def _article(row: Row[Any]) -> ArticleView:
    # Unpacked in the order _articles_statement selects: by position, a row is read about
    # ten times faster than by name, and a page has 20 rows of 14 columns.
    (
        _total,
        slug,
        title,
        description,
        body,
        created_at,
        updated_at,
        favorites_count,
        favorited,
        username,
        bio,
        image,
        following,
        tag_names,
    ) = row
    return ArticleView(
        slug=slug,
        title=title,
        description=description,
        body=body,
        # Sorted in Python, as the domain sorts them, whatever the database's collation.
        tag_list=tuple(sorted(tag_names or ())),
        created_at=_utc(created_at),
        updated_at=_utc(updated_at),
        favorited=bool(favorited),
        favorites_count=favorites_count,
        author=_profile(username, bio, image, following),
    )


def _comment(row: Row[Any]) -> CommentView:
    id_, body, created_at, updated_at, username, bio, image, following = row
    return CommentView(
        id=id_,
        body=body,
        created_at=_utc(created_at),
        updated_at=_utc(updated_at),
        author=_profile(username, bio, image, following),
    )


def _key(username: str | None) -> str | None:
    return username_key(username) if username is not None else None


class SqlAlchemyReadQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def profile(self, username: str, viewer_id: int | None) -> ProfileView | None:
        row = self._connection.execute(
            _profile_statement(viewer_id is not None),
            {"username": username_key(username), "viewer_id": viewer_id},
        ).one_or_none()
        return _profile(*row) if row is not None else None

    def article(self, slug: str, viewer_id: int | None) -> ArticleView | None:
        statement = _articles_statement(_Shape(slug=True), viewer_id is not None, True, False)
        rows = self._connection.execute(
            statement, {"slug": slug, "viewer_id": viewer_id, "limit": 1, "offset": 0}
        ).all()
        return _article(rows[0]) if rows else None

    def articles(self, filters: ArticleFilter, viewer_id: int | None) -> ArticlePage:
        shape = _Shape(
            tag=filters.tag is not None,
            author=filters.author is not None,
            favorited_by=filters.favorited_by is not None,
        )
        parameters = {
            "tag": filters.tag,
            "author": _key(filters.author),
            "favorited": _key(filters.favorited_by),
        }
        return self._page(shape, parameters, viewer_id, filters.limit, filters.offset)

    def feed(self, caller: Caller, limit: int, offset: int) -> ArticlePage:
        parameters = {"token_generation": caller.token_generation}
        return self._page(_Shape(feed=True), parameters, caller.user_id, limit, offset)

    def comments(self, slug: str, viewer_id: int | None) -> list[CommentView] | None:
        rows = self._connection.execute(
            _article_comments_statement(viewer_id is not None),
            {"slug": slug, "viewer_id": viewer_id},
        ).all()
        if not rows:
            return None
        return [_comment(row) for row in rows if row.id is not None]

    def comment(self, comment_id: int, viewer_id: int | None) -> CommentView | None:
        row = self._connection.execute(
            _comment_statement(viewer_id is not None),
            {"comment_id": comment_id, "viewer_id": viewer_id},
        ).one_or_none()
        return _comment(row) if row is not None else None

    def tags(self) -> list[str]:
        """Tags of at least one article; sorted here, not by the database's collation."""
        return sorted(self._connection.scalars(_TAGS_IN_USE))

    # -- building blocks -----------------------------------------------------------------

    @property
    def _connection(self) -> Connection:
        return self.session.connection()

    def _page(
        self,
        shape: _Shape,
        parameters: dict[str, Any],
        viewer_id: int | None,
        limit: int,
        offset: int,
    ) -> ArticlePage:
        parameters = {**parameters, "viewer_id": viewer_id}
        statement = _articles_statement(shape, viewer_id is not None, False, True)
        rows = self._connection.execute(
            statement, {**parameters, "limit": limit, "offset": offset}
        ).all()
        if rows:
            total = rows[0].total
        elif offset == 0:
            total = 0
        else:  # past the end: no row carries the total
            total = self._connection.scalar(_count_statement(shape), parameters) or 0
        return ArticlePage(articles=tuple(_article(row) for row in rows), total=total)
