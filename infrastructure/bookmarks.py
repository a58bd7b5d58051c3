"""The reading list in SQL: its repository and how its list parts read."""

from datetime import datetime

from sqlalchemy import bindparam, delete

from application.bookmarks import BookmarkedBy, NewestBookmarkFirst
from domain.articles import Article
from infrastructure.orm import articles, bookmarks
from infrastructure.queries import CALLER_ID, sql_part
from infrastructure.repositories.shared import Store, insert_ignoring_duplicates
from infrastructure.statements import Statement

_REMOVE = Statement(
    delete(bookmarks).filter_by(user_id=bindparam("user"), article_id=bindparam("article"))
)


class SqlAlchemyBookmarks:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, user_id: int, article: Article, at: datetime) -> None:
        row = {"user_id": user_id, "article_id": article.id, "created_at": at}
        insert_ignoring_duplicates(self.store.connection(), bookmarks, [row])

    def remove(self, user_id: int, article: Article) -> None:
        _REMOVE.run(self.store.connection(), {"user": user_id, "article": article.id})


sql_part(
    BookmarkedBy,
    join=((bookmarks, bookmarks.c.article_id == articles.c.id),),
    where=(bookmarks.c.user_id == CALLER_ID,),
)
sql_part(NewestBookmarkFirst, order_by=(bookmarks.c.created_at.desc(), articles.c.id.desc()))
