from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from domain.articles import Article, Tag
from infrastructure.orm import articles, favorites, tags
from infrastructure.repositories._sql import insert_ignoring_duplicates


class SqlAlchemyArticleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, article: Article) -> None:
        names = [tag.name for tag in article.tags]
        # Tags are shared by name: insert the new ones (a concurrent writer may insert the
        # same name; ON CONFLICT lets both go on), then link the stored rows.
        insert_ignoring_duplicates(self.session, tags, [{"name": name} for name in names])
        article.tags = list(
            self.session.scalars(select(Tag).where(tags.c.name.in_(names))) if names else []
        )
        self.session.add(article)
        self.session.flush()

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Article | None:
        statement = select(Article).where(articles.c.slug == slug)
        if for_update:
            # SELECT ... FOR UPDATE on PostgreSQL; SQLite has no row locks (SQLAlchemy emits
            # nothing) but its write transactions begin IMMEDIATE, so they are serial anyway.
            statement = statement.with_for_update(of=articles)
        return self.session.scalars(statement).one_or_none()

    def slug_exists(self, slug: str) -> bool:
        return bool(self.session.scalar(select(exists().where(articles.c.slug == slug))))

    def save(self, article: Article) -> None:
        self.session.flush()

    def remove(self, article: Article) -> None:
        # Tag links, comments and favorites go by ON DELETE CASCADE, in this transaction.
        self.session.execute(delete(articles).where(articles.c.id == article.id))
        self.session.expunge(article)

    def add_favorite(self, article: Article, user_id: int) -> bool:
        added = insert_ignoring_duplicates(
            self.session, favorites, [{"user_id": user_id, "article_id": article.id}]
        )
        if added:
            self._move_favorites_count(article, +1)
        return bool(added)

    def remove_favorite(self, article: Article, user_id: int) -> bool:
        removed = self.session.execute(
            delete(favorites).where(
                favorites.c.user_id == user_id, favorites.c.article_id == article.id
            )
        ).rowcount  # type: ignore[attr-defined]  # CursorResult
        if removed:
            self._move_favorites_count(article, -1)
        return bool(removed)

    def _move_favorites_count(self, article: Article, by: int) -> None:
        # In SQL, not in Python: concurrent favorites each add one under the row lock,
        # so no increment is lost.
        self.session.execute(
            update(articles)
            .where(articles.c.id == article.id)
            .values(favorites_count=articles.c.favorites_count + by)
        )
