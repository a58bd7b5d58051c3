"""The read side: read models straight from rows, in a fixed number of statements.

An article page is one statement whatever its size: the page with the total (an
uncorrelated subquery, evaluated once), the author, ``following`` and ``favorited`` (as
correlated EXISTS) and the tags (a JSON array per article). Only a page past the end,
which has no row to carry the total, costs a second statement to count. No ORM objects
are loaded, so nothing can lazy-load. Statements run on the unit of work's connection:
they select columns, not entities, and run as ``Statement``s (``infrastructure/statements.py``):
compiled once, executed on the driver's cursor, read by position.

Every statement counts: each costs the service a round trip (about 0.05 ms of CPU) and
SQLAlchemy's execution (about 0.09 ms), measured with ``bench/run.py --layers``.

Every statement is built once per shape (which list parts, anonymous or not) with bound
parameters, and reused: building and cache-keying a fresh statement per request cost
about as much as running it (measured with bench/budget.py).

What a statement selects is a projection (``infrastructure/projection.py``): one
declaration per read model gives the SELECT list and the reader of its rows. Which
articles a page lists is an ``ArticleList`` of parts (``application/read_models.py``);
each part type has one ``SqlPart`` here (``sql_part(...)``), and a page's statement is put
together from the parts of its list.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Connection,
    FromClause,
    Select,
    bindparam,
    exists,
    false,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import GenericFunction

from application.caller import Caller
from application.read_models import (
    AllArticles,
    ArticleList,
    ArticlePage,
    ArticleView,
    CallersOwn,
    CommentView,
    FavoritedBy,
    FollowedBy,
    ListFilter,
    ListOrder,
    ListSource,
    NewestFirst,
    ProfileView,
    TaggedWith,
    UserView,
    WrittenBy,
)
from domain.users import username_key
from infrastructure.orm import article_tags, articles, comments, favorites, follows, tags, users
from infrastructure.projection import Converted, Projection
from infrastructure.statements import Statement


class Viewer(Enum):
    """Who reads: ``following`` and ``favorited`` are false, and not queried, for anonymous."""

    ANONYMOUS = "anonymous"
    SIGNED_IN = "signed in"

    @staticmethod
    def of(viewer_id: int | None) -> "Viewer":
        return Viewer.ANONYMOUS if viewer_id is None else Viewer.SIGNED_IN


_VIEWER: BindParameter[Any] = bindparam("viewer_id")  # typed by what it is compared with


def _utc(moment: datetime) -> datetime:
    # SQLite gives stored timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _sorted_tags(names: list[str] | None) -> tuple[str, ...]:
    # Sorted in Python, as the domain sorts them, whatever the database's collation.
    return tuple(sorted(names or ()))


def _following(viewer: Viewer, author_id: Any) -> ColumnElement[bool]:
    if viewer is Viewer.ANONYMOUS:
        return false()
    return exists().where(follows.c.follower_id == _VIEWER, follows.c.followee_id == author_id)


def _favorited(viewer: Viewer) -> ColumnElement[bool]:
    if viewer is Viewer.ANONYMOUS:
        return false()
    return exists().where(favorites.c.user_id == _VIEWER, favorites.c.article_id == articles.c.id)


class value_list(GenericFunction[Any]):
    """The aggregated values as a list: ``array_agg`` on PostgreSQL (an array, which the
    driver reads as a list natively; NULL for no rows), ``json_group_array`` on SQLite (a
    JSON array, parsed by the JSON type; ``[]``). The array, not ``json_agg``: psycopg
    parses JSON with ``json.loads`` per value, a fifth of a list page's CPU (cProfile)."""

    type = JSON()
    inherit_cache = True


@compiles(value_list, "postgresql")
def _value_list_postgresql(element: value_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"array_agg({compiler.process(element.clauses, **kw)})"


@compiles(value_list, "sqlite")
def _value_list_sqlite(element: value_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


class one_of(GenericFunction[bool]):
    """``one_of(column, subquery)``: the column's value is one of the subquery's. PostgreSQL:
    ``= ANY(ARRAY(subquery))``, the values found first (once), then looked up in the
    column's index or checked against each row; ``IN (subquery)`` is planned as a join,
    which without statistics hashed the subquery against every row of the table
    (``tests/integration/test_query_plans.py``). SQLite: ``IN``."""

    type = Boolean()
    inherit_cache = True


@compiles(one_of, "postgresql")
def _one_of_postgresql(element: one_of, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = element.clauses
    return f"{compiler.process(column, **kw)} = ANY(ARRAY{compiler.process(values, **kw)})"


@compiles(one_of, "sqlite")
def _one_of_sqlite(element: one_of, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = element.clauses
    return f"{compiler.process(column, **kw)} IN {compiler.process(values, **kw)}"


# The names of an article's tags, as a list (order is the domain's, applied in Python).
_TAG_NAMES = (
    select(value_list(tags.c.name))
    .select_from(article_tags.join(tags, tags.c.id == article_tags.c.tag_id))
    .where(article_tags.c.article_id == articles.c.id)
    .scalar_subquery()
)


def _by_username(parameter: str) -> ColumnElement[bool]:
    """The user whose name is the parameter in any case (its ``username_key``): the unique
    index is on ``lower(username)``, so this is an index lookup."""
    return func.lower(users.c.username) == bindparam(parameter)


def user_id(parameter: str) -> Any:
    """The id of the user named by bound ``parameter`` (a ``username_key``), as a subquery."""
    return select(users.c.id).where(_by_username(parameter)).scalar_subquery()


# -- read models as columns ------------------------------------------------------------------


def _profile_view(viewer: Viewer, user: Any) -> Projection[ProfileView]:
    return Projection(
        ProfileView,
        username=users.c.username,
        bio=users.c.bio,
        image=users.c.image,
        following=Converted(_following(viewer, user), bool),
    )


def _article_view(viewer: Viewer, body: ColumnElement[Any]) -> Projection[ArticleView]:
    return Projection(
        ArticleView,
        slug=articles.c.slug,
        title=articles.c.title,
        description=articles.c.description,
        body=body,
        tag_list=Converted(_TAG_NAMES, _sorted_tags),
        created_at=Converted(articles.c.created_at, _utc),
        updated_at=Converted(articles.c.updated_at, _utc),
        favorited=Converted(_favorited(viewer), bool),
        favorites_count=articles.c.favorites_count,
        author=_profile_view(viewer, articles.c.author_id),
    )


def _comment_view(viewer: Viewer) -> Projection[CommentView]:
    return Projection(
        CommentView,
        id=comments.c.id,
        body=comments.c.body,
        created_at=Converted(comments.c.created_at, _utc),
        updated_at=Converted(comments.c.updated_at, _utc),
        author=_profile_view(viewer, comments.c.author_id),
    )


_ACCOUNT = Projection(
    UserView, email=users.c.email, username=users.c.username, bio=users.c.bio, image=users.c.image
)
_PROFILE = {viewer: _profile_view(viewer, users.c.id) for viewer in Viewer}
_ARTICLE = {viewer: _article_view(viewer, articles.c.body) for viewer in Viewer}
# Lists omit the body: it is most of an article's bytes.
_ARTICLE_IN_LIST = {viewer: _article_view(viewer, null()) for viewer in Viewer}
_COMMENT = {viewer: _comment_view(viewer) for viewer in Viewer}


# -- the parts of article lists --------------------------------------------------------------

Part = TypeVar("Part")


def _no_parameters(_part: object) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class SqlPart:
    """How one part type of an ``ArticleList`` reads in SQL: clauses built once, with bound
    parameters, and the function giving the parameters' values of one part, per request.

    ``join`` adds tables to the FROM, joined onto ``articles`` (a link table whose
    columns an order uses); ``where`` adds conditions; ``order_by`` is a whole order.
    """

    parameters: Callable[[Any], dict[str, Any]] = _no_parameters
    join: tuple[tuple[FromClause, ColumnElement[bool]], ...] = ()
    where: tuple[ColumnElement[bool], ...] = ()
    order_by: tuple[ColumnElement[Any], ...] = ()


_SQL_PARTS: dict[type, SqlPart] = {}


def sql_part(
    kind: type[Part],
    *,
    parameters: Callable[[Part], dict[str, Any]] = _no_parameters,
    join: tuple[tuple[FromClause, ColumnElement[bool]], ...] = (),
    where: tuple[ColumnElement[bool], ...] = (),
    order_by: tuple[ColumnElement[Any], ...] = (),
) -> None:
    """Say how parts of type ``kind`` read in SQL: once per part type, beside its tables.

    Bound parameter names are shared by all the parts of a list: name them for the part
    (``favorited_by``, not ``username``)."""
    if kind in _SQL_PARTS:
        raise ValueError(f"{kind.__name__} already reads in SQL")
    _SQL_PARTS[kind] = SqlPart(parameters, join, where, order_by)


sql_part(AllArticles)

# A list of the caller's own (CallersOwn) has rows only for the caller's account in the
# session generation of their token. The check rides along in every such list's statement
# (uncorrelated: evaluated once), so a token of an ended session reads an empty page and
# the use case then refuses it (application.lookups.callers_page).
_caller = users.alias("caller")
CALLER_ID: BindParameter[Any] = bindparam("caller_id")  # a CallersOwn part's user id
_CURRENT_SESSION = exists().where(
    _caller.c.id == CALLER_ID,
    _caller.c.token_generation == bindparam("caller_generation"),
)


def _callers_session(caller: Caller) -> dict[str, Any]:
    return {"caller_id": caller.user_id, "caller_generation": caller.token_generation}


sql_part(
    FollowedBy,
    where=(
        one_of(
            articles.c.author_id,
            select(follows.c.followee_id)
            .where(follows.c.follower_id == CALLER_ID)
            .scalar_subquery(),
        ),
    ),
)

_TAG_ID = select(tags.c.id).where(tags.c.name == bindparam("tag")).scalar_subquery()
sql_part(
    TaggedWith,
    where=(
        articles.c.id.in_(
            select(article_tags.c.article_id).where(article_tags.c.tag_id == _TAG_ID)
        ),
    ),
    parameters=lambda part: {"tag": part.tag},
)

sql_part(
    WrittenBy,
    where=(articles.c.author_id == user_id("author"),),
    parameters=lambda part: {"author": username_key(part.username)},
)

sql_part(
    FavoritedBy,
    where=(
        articles.c.id.in_(
            select(favorites.c.article_id).where(favorites.c.user_id == user_id("favorited_by"))
        ),
    ),
    parameters=lambda part: {"favorited_by": username_key(part.username)},
)

sql_part(NewestFirst, order_by=(articles.c.created_at.desc(), articles.c.id.desc()))


class _Shape(NamedTuple):
    """The part types of a list: one statement is built per shape."""

    source: type[ListSource]
    filters: tuple[type[ListFilter], ...]
    order: type[ListOrder]

    @staticmethod
    def of(listing: ArticleList) -> "_Shape":
        return _Shape(type(listing.source), tuple(map(type, listing.filters)), type(listing.order))


class _Clauses(NamedTuple):
    from_: FromClause
    where: tuple[ColumnElement[bool], ...]
    order_by: tuple[ColumnElement[Any], ...]


def _sql(kind: type) -> SqlPart:
    try:
        return _SQL_PARTS[kind]
    except KeyError:
        raise LookupError(f"{kind.__name__} has no SQL: say how it reads with sql_part()") from None


@cache
def _clauses(shape: _Shape) -> _Clauses:
    parts = [_sql(shape.source), *map(_sql, shape.filters), _sql(shape.order)]
    from_: FromClause = articles
    for part in parts:
        for table, on in part.join:
            from_ = from_.join(table, on)
    where = tuple(condition for part in parts for condition in part.where)
    if issubclass(shape.source, CallersOwn):
        where += (_CURRENT_SESSION,)
    order_by = tuple(column for part in parts for column in part.order_by)
    return _Clauses(from_, where, order_by)


def _parameters(listing: ArticleList) -> dict[str, Any]:
    parameters = _SQL_PARTS[type(listing.source)].parameters(listing.source)
    if isinstance(listing.source, CallersOwn):
        parameters.update(_callers_session(listing.source.caller))
    for part in listing.filters:
        parameters.update(_SQL_PARTS[type(part)].parameters(part))
    parameters.update(_SQL_PARTS[type(listing.order)].parameters(listing.order))
    return parameters


@cache
def _count(shape: _Shape) -> Select[Any]:
    clauses = _clauses(shape)
    return select(func.count()).select_from(clauses.from_).where(*clauses.where)


@cache
def _count_statement(shape: _Shape) -> Statement:
    return Statement(_count(shape))


@cache
def _page_statement(shape: _Shape, viewer: Viewer) -> Statement:
    clauses = _clauses(shape)
    # Never correlated: the count is of the whole list, even when a part joins a table.
    total = _count(shape).scalar_subquery().correlate(None)
    return Statement(
        select(*_ARTICLE_IN_LIST[viewer].columns, total.label("total"))
        .select_from(clauses.from_.join(users, users.c.id == articles.c.author_id))
        .where(*clauses.where)
        .order_by(*clauses.order_by)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


# The page's total rides along after the articles' columns.
_TOTAL = len(_ARTICLE_IN_LIST[Viewer.ANONYMOUS].columns)


# -- single reads ----------------------------------------------------------------------------


def _article_select(viewer: Viewer) -> Select[Any]:
    return (
        select(*_ARTICLE[viewer].columns)
        .select_from(articles.join(users, users.c.id == articles.c.author_id))
        .where(articles.c.slug == bindparam("slug"))
    )


@cache
def _article_statement(viewer: Viewer) -> Statement:
    return Statement(_article_select(viewer))


@cache
def _article_for_caller_statement() -> Statement:
    # The caller's session rides along, as in a list of the caller's own: no row if it ended.
    return Statement(_article_select(Viewer.SIGNED_IN).where(_CURRENT_SESSION))


# The caller's account, in the session generation of their token: no row if either is gone.
_ACCOUNT_STATEMENT = Statement(
    select(*_ACCOUNT.columns).where(
        users.c.id == bindparam("caller_id"),
        users.c.token_generation == bindparam("caller_generation"),
    )
)
# One index probe per tag, whatever the planner's statistics: OFFSET 0 keeps PostgreSQL from
# turning the EXISTS into a join, which on tables not analysed yet it runs as a hash of every
# link (0.85 ms a call on the bench's 4,941 links, against 0.14 ms probing; with statistics it
# probes anyway).
_TAGS_IN_USE = Statement(
    select(tags.c.name).where(
        exists(
            select(article_tags.c.tag_id)
            .where(article_tags.c.tag_id == tags.c.id)
            .offset(literal_column("0"))
        )
    )
)


@cache
def _profile_statement(viewer: Viewer) -> Statement:
    return Statement(select(*_PROFILE[viewer].columns).where(_by_username("username")))


@cache
def _comment_statement(viewer: Viewer) -> Statement:
    return Statement(
        select(*_COMMENT[viewer].columns)
        .join(users, users.c.id == comments.c.author_id)
        .where(comments.c.id == bindparam("comment_id"))
    )


@cache
def _article_comments_statement(viewer: Viewer) -> Statement:
    """The article's comments: no row if there is no such article, one with a NULL
    comment id if it has no comments (so one statement tells both)."""
    return Statement(
        select(*_COMMENT[viewer].columns)
        .select_from(articles)
        .outerjoin(comments, comments.c.article_id == articles.c.id)
        .outerjoin(users, users.c.id == comments.c.author_id)
        .where(articles.c.slug == bindparam("slug"))
        .order_by(comments.c.id.desc())
    )


_COMMENT_ID = _COMMENT[Viewer.ANONYMOUS].position("id")


class SqlAlchemyReadQueries:
    def __init__(self, connection: Callable[[], Connection]) -> None:
        self._connect = connection  # the unit of work's: its connection when first asked

    def account(self, caller: Caller) -> UserView | None:
        row = _ACCOUNT_STATEMENT.first(self._connection, _callers_session(caller))
        return _ACCOUNT.read(row) if row is not None else None

    def profile(self, username: str, viewer_id: int | None) -> ProfileView | None:
        viewer = Viewer.of(viewer_id)
        row = _profile_statement(viewer).first(
            self._connection, {"username": username_key(username), "viewer_id": viewer_id}
        )
        return _PROFILE[viewer].read(row) if row is not None else None

    def article(self, slug: str, viewer_id: int | None) -> ArticleView | None:
        viewer = Viewer.of(viewer_id)
        row = _article_statement(viewer).first(
            self._connection, {"slug": slug, "viewer_id": viewer_id}
        )
        return _ARTICLE[viewer].read(row) if row is not None else None

    def article_for_caller(self, slug: str, caller: Caller) -> ArticleView | None:
        row = _article_for_caller_statement().first(
            self._connection,
            {"slug": slug, "viewer_id": caller.user_id, **_callers_session(caller)},
        )
        return _ARTICLE[Viewer.SIGNED_IN].read(row) if row is not None else None

    def page(self, listing: ArticleList, viewer_id: int | None) -> ArticlePage:
        shape, viewer = _Shape.of(listing), Viewer.of(viewer_id)
        parameters = _parameters(listing)
        parameters["viewer_id"] = viewer_id
        rows = _page_statement(shape, viewer).rows(
            self._connection, {**parameters, "limit": listing.limit, "offset": listing.offset}
        )
        if rows:
            total = rows[0][_TOTAL]
        elif listing.offset == 0:
            total = 0
        else:  # past the end: no row carries the total
            total = _count_statement(shape).scalar(self._connection, parameters) or 0
        read = _ARTICLE_IN_LIST[viewer].read
        return ArticlePage(articles=tuple(read(row) for row in rows), total=total)

    def comments(self, slug: str, viewer_id: int | None) -> list[CommentView] | None:
        viewer = Viewer.of(viewer_id)
        rows = _article_comments_statement(viewer).rows(
            self._connection, {"slug": slug, "viewer_id": viewer_id}
        )
        if not rows:
            return None
        read = _COMMENT[viewer].read
        return [read(row) for row in rows if row[_COMMENT_ID] is not None]

    def comment(self, comment_id: int, viewer_id: int | None) -> CommentView | None:
        viewer = Viewer.of(viewer_id)
        row = _comment_statement(viewer).first(
            self._connection, {"comment_id": comment_id, "viewer_id": viewer_id}
        )
        return _COMMENT[viewer].read(row) if row is not None else None

    def tags(self) -> list[str]:
        """Tags of at least one article; sorted here, not by the database's collation."""
        return sorted(_TAGS_IN_USE.scalars(self._connection))

    @property
    def _connection(self) -> Connection:
        return self._connect()
