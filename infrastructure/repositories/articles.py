from functools import cache

from sqlalchemy import Select, bindparam, delete, exists, select, update
from sqlalchemy.orm import Session

from domain.articles import Article, Tag
from infrastructure.orm import articles, favorites, tags
from infrastructure.repositories.shared import delete_entity, insert_ignoring_duplicates
from infrastructure.statements import Statement

# Built once with bound parameters: building and cache-keying a statement per call costs
# about as much as running it. Core statements are ``Statement``s, run on the driver with
# the session's connection; those that load entities are built on first use (the mapping
# is made at start-up) and run through the session.
_SLUG_EXISTS = Statement(select(exists().where(articles.c.slug == bindparam("slug"))))
_UNFAVORITE = Statement(
    delete(favorites).where(
        favorites.c.user_id == bindparam("fan_id"),
        favorites.c.article_id == bindparam("target_id"),
    )
)
# In SQL, not in Python: concurrent favorites each add one under the row lock, so no
# increment is lost.
_MOVE_FAVORITES_COUNT = Statement(
    update(articles)
    .where(articles.c.id == bindparam("target_id"))
    .values(favorites_count=articles.c.favorites_count + bindparam("by"))
)


@cache
def _by_slug(for_update: bool) -> Select[Article]:
    statement = select(Article).where(articles.c.slug == bindparam("slug"))
    return statement.with_for_update(of=articles) if for_update else statement


@cache
def _tags() -> Select[Tag]:
    return select(Tag).where(tags.c.name.in_(bindparam("names", expanding=True)))


class SqlAlchemyArticleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, article: Article) -> None:
        names = [tag.name for tag in article.tags]
        # Tags are shared by name: insert the new ones (a concurrent writer may insert the
        # same name; ON CONFLICT lets both go on), then link the stored rows.
        insert_ignoring_duplicates(self.session, tags, [{"name": name} for name in names])
        article.tags = list(self.session.scalars(_tags(), {"names": names})) if names else []
        self.session.add(article)
        self.session.flush()

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Article | None:
        # FOR UPDATE on PostgreSQL; SQLite has no row locks (SQLAlchemy emits nothing) but
        # its write transactions begin IMMEDIATE, so they are serial anyway.
        return self.session.scalars(_by_slug(for_update), {"slug": slug}).one_or_none()

    def slug_exists(self, slug: str) -> bool:
        return bool(_SLUG_EXISTS.scalar(self.session.connection(), {"slug": slug}))

    def save(self, article: Article) -> None:
        self.session.flush()

    def remove(self, article: Article) -> None:
        # Tag links, comments and favorites go by ON DELETE CASCADE, in this transaction.
        delete_entity(self.session, articles, article)

    def add_favorite(self, article: Article, user_id: int) -> bool:
        added = insert_ignoring_duplicates(
            self.session, favorites, [{"user_id": user_id, "article_id": article.id}]
        )
        if added:
            self._move_favorites_count(article, +1)
        return bool(added)

    def remove_favorite(self, article: Article, user_id: int) -> bool:
        removed = _UNFAVORITE.run(
            self.session.connection(), {"fan_id": user_id, "target_id": article.id}
        )
        if removed:
            self._move_favorites_count(article, -1)
        return bool(removed)

    def _move_favorites_count(self, article: Article, by: int) -> None:
        _MOVE_FAVORITES_COUNT.run(self.session.connection(), {"target_id": article.id, "by": by})
