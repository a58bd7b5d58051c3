from functools import cache
from typing import Any

from sqlalchemy import (
    Insert,
    Integer,
    Select,
    String,
    Update,
    any_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement

from domain.articles import Article
from infrastructure.backend import Backend, backend_of
from infrastructure.orm import article_tags, articles, favorites, tags
from infrastructure.repositories.shared import (
    Store,
    delete_entity,
    dialect_insert,
    insert_ignoring_duplicates,
)
from infrastructure.statements import Statement

# Built once with bound parameters: building and cache-keying a statement per call costs
# about as much as running it. Core statements are ``Statement``s, run on the driver with
# the unit of work's connection; those that load entities are built on first use (the
# mapping is made at start-up) and run through its session.
#
# Writes take as few round trips as the database allows. PostgreSQL runs a write of
# several tables as one statement (data-modifying CTEs); SQLite has no such statements,
# so there each table's write is its own statement (its write transactions are serial:
# BEGIN IMMEDIATE), and the results are the same.
_SLUG_EXISTS = Statement(select(exists().where(articles.c.slug == bindparam("slug"))))
# Named apart from the column: an UPDATE of articles reserves the names of its columns.
_TARGET_ID = (
    select(articles.c.id).where(articles.c.slug == bindparam("target_slug")).scalar_subquery()
)
_WRITTEN = ("slug", "title", "description", "body", "author_id", "created_at", "updated_at")


@cache
def _insert_article(backend: Backend) -> Insert:
    """The article's row, unless its slug is taken; returns its id (no row: taken)."""
    return (
        dialect_insert(backend, articles)
        .values({name: bindparam(name) for name in _WRITTEN})
        .on_conflict_do_nothing(index_elements=[articles.c.slug])
        .returning(articles.c.id)
    )


@cache
def _link_tags(backend: Backend) -> Insert:
    """Link the article to the stored tags of these names (those linked already stay)."""
    return (
        dialect_insert(backend, article_tags)
        .from_select(
            ["article_id", "tag_id"],
            select(bindparam("article_id", type_=Integer), tags.c.id).where(
                tags.c.name.in_(bindparam("tag_names", expanding=True))
            ),
        )
        .on_conflict_do_nothing()
    )


@cache
def _add_with_tags() -> Select[Any]:
    """PostgreSQL: the article, its new tag names and its tag links in one statement.
    One row (the id, and how many tags it linked) if it was added; none if its slug is
    taken, and then nothing is written.

    A statement sees the tags stored before it began, and returns those it inserts; a tag a
    concurrent writer stores meanwhile is neither (ON CONFLICT waits for that writer, then
    skips the name). ``linked`` then falls short, and ``add`` links the rest.
    """
    names = cast(bindparam("tag_names"), postgresql.ARRAY(String))
    new_article = _insert_article(Backend.POSTGRESQL).cte("new_article")
    new_tags = (
        postgresql.insert(tags)
        .from_select(["name"], select(func.unnest(names)).where(exists(select(new_article.c.id))))
        .on_conflict_do_nothing(index_elements=[tags.c.name])
        .returning(tags.c.id)
        .cte("new_tags")
    )
    tag_ids = union_all(
        select(new_tags.c.id), select(tags.c.id).where(tags.c.name == any_(names))
    ).subquery("tag_ids")
    links = (
        postgresql.insert(article_tags)
        .from_select(
            ["article_id", "tag_id"],
            select(new_article.c.id, tag_ids.c.id).select_from(new_article.join(tag_ids, true())),
        )
        .returning(article_tags.c.tag_id)
        .cte("links")
    )
    linked = select(func.count()).select_from(links).scalar_subquery()
    return select(new_article.c.id, linked.label("linked"))


@cache
def _insert_favorite(backend: Backend) -> Insert:
    """The caller's favorite of the article of this slug, unless it is there (or there is
    no such article); returns the article's id if it was added."""
    return (
        dialect_insert(backend, favorites)
        .from_select(
            ["user_id", "article_id"],
            select(bindparam("fan_id", type_=Integer), articles.c.id).where(
                articles.c.slug == bindparam("target_slug")
            ),
        )
        .on_conflict_do_nothing()
        .returning(favorites.c.article_id)
    )


_DELETE_FAVORITE = (
    delete(favorites)
    .where(favorites.c.user_id == bindparam("fan_id"), favorites.c.article_id == _TARGET_ID)
    .returning(favorites.c.article_id)
)
# In SQL, not in Python: concurrent favorites each add one under the row lock, so no
# increment is lost.
_MOVE_FAVORITES_COUNT = (
    update(articles)
    .where(articles.c.id == bindparam("target_id"))
    .values(favorites_count=articles.c.favorites_count + bindparam("by"))
    .returning(articles.c.favorites_count)
)


@cache
def _with_count_moved(change: UpdateBase, by: int) -> Update:
    """PostgreSQL: ``change`` (an insert or delete of a favorite returning its article's
    id) and the article's count moved ``by`` in one statement; returns the new count, or
    no row if ``change`` changed nothing."""
    changed = change.cte("changed")
    return (
        update(articles)
        .where(articles.c.id == select(changed.c.article_id).scalar_subquery())
        .values(favorites_count=articles.c.favorites_count + by)
        .returning(articles.c.favorites_count)
        .add_cte(changed)
    )


@cache
def _run(statement: ClauseElement) -> Statement:
    """The ``Statement`` that runs one of the statements above (each built once)."""
    return Statement(statement)


@cache
def _by_slug(for_update: bool) -> Select[Article]:
    statement = select(Article).where(articles.c.slug == bindparam("slug"))
    return statement.with_for_update(of=articles) if for_update else statement


class SqlAlchemyArticleRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, article: Article) -> bool:
        # Each name once, sorted: writers storing the same new names wait for each other
        # in one order, never crosswise (a deadlock).
        names = sorted({tag.name for tag in article.tags})
        written = {name: getattr(article, name) for name in _WRITTEN}
        connection = self.store.connection()
        backend = backend_of(connection)
        if backend is Backend.POSTGRESQL:
            row = _run(_add_with_tags()).first(connection, {**written, "tag_names": names})
            if row is None:
                return False
            article.id, linked = row
            # Short only if another writer stored one of the names meanwhile (_add_with_tags).
            unlinked = linked < len(names)
        else:
            article.id = _run(_insert_article(backend)).scalar(connection, written)
            if article.id is None:
                return False
            # Tags are shared by name: store the names not stored yet, then link them all.
            insert_ignoring_duplicates(
                self.store.connection(), tags, [{"name": name} for name in names]
            )
            unlinked = bool(names)
        if unlinked:
            # An expanding IN (one parameter per name) is compiled per call: SQLAlchemy's.
            connection.execute(_link_tags(backend), {"article_id": article.id, "tag_names": names})
        return True

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Article | None:
        # FOR UPDATE on PostgreSQL; SQLite has no row locks (SQLAlchemy emits nothing) but
        # its write transactions begin IMMEDIATE, so they are serial anyway.
        return self.store.session.scalars(_by_slug(for_update), {"slug": slug}).one_or_none()

    def slug_exists(self, slug: str) -> bool:
        return bool(_SLUG_EXISTS.scalar(self.store.connection(), {"slug": slug}))

    def save(self, article: Article) -> None:
        self.store.session.flush()

    def remove(self, article: Article) -> None:
        # Tag links, comments and favorites go by ON DELETE CASCADE, in this transaction.
        delete_entity(self.store, articles, article)

    def add_favorite(self, slug: str, user_id: int) -> int | None:
        connection = self.store.connection()
        return self._change_favorite(_insert_favorite(backend_of(connection)), +1, slug, user_id)

    def remove_favorite(self, slug: str, user_id: int) -> int | None:
        return self._change_favorite(_DELETE_FAVORITE, -1, slug, user_id)

    def _change_favorite(self, change: UpdateBase, by: int, slug: str, user_id: int) -> int | None:
        """The favorite row and ``favorites_count`` move together: the new count, or None
        if the row was not changed."""
        connection = self.store.connection()
        parameters = {"target_slug": slug, "fan_id": user_id}
        if backend_of(connection) is Backend.POSTGRESQL:
            count: int | None = _run(_with_count_moved(change, by)).scalar(connection, parameters)
            return count
        article_id = _run(change).scalar(connection, parameters)
        if article_id is None:
            return None
        count = _run(_MOVE_FAVORITES_COUNT).scalar(connection, {"target_id": article_id, "by": by})
        return count
