"""The reading list: articles a user keeps, privately (README: "Adding a use case")."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.caller import Caller
from application.lookups import (
    callers_page,
    check_page,
    require_account,
    require_article,
    require_article_view,
)
from application.ports import Clock
from application.read_models import ArticleList, ArticlePage, ArticleView, CallersOwn, ListOrder
from application.retry import retry_on_conflict
from application.unit_of_work import RepositoryClass, UnitOfWork
from domain.articles import Article


class Bookmarks(Protocol):
    def add(self, user_id: int, article: Article, at: datetime) -> None:
        """Keep the article for the user; a second time keeps the first bookmark."""

    def remove(self, user_id: int, article: Article) -> None:
        """Forget it; nothing happens if it was not kept."""


@dataclass(frozen=True, slots=True)
class BookmarkedBy(CallersOwn):
    """The articles the caller bookmarked (gone with the article)."""


@dataclass(frozen=True, slots=True)
class NewestBookmarkFirst(ListOrder):
    """The latest bookmarked first."""


class BookmarkService:
    def __init__(self, uow: UnitOfWork, bookmarks: RepositoryClass[Bookmarks], clock: Clock):
        self.uow = uow
        self.bookmarks = bookmarks
        self.clock = clock

    @retry_on_conflict
    def add(self, slug: str, caller: Caller) -> ArticleView:
        with self.uow:
            require_account(self.uow, caller)
            article = require_article(self.uow, slug)
            self.uow.repository(self.bookmarks).add(caller.user_id, article, self.clock.now())
            view = require_article_view(self.uow, slug, caller.user_id)
            self.uow.commit()
        return view

    @retry_on_conflict
    def remove(self, slug: str, caller: Caller) -> ArticleView:
        with self.uow:
            require_account(self.uow, caller)
            article = require_article(self.uow, slug)
            self.uow.repository(self.bookmarks).remove(caller.user_id, article)
            view = require_article_view(self.uow, slug, caller.user_id)
            self.uow.commit()
        return view

    def page(self, caller: Caller, limit: int, offset: int) -> ArticlePage:
        check_page(limit, offset)
        with self.uow.read_only():
            order = NewestBookmarkFirst()
            listing = ArticleList(BookmarkedBy(caller), order=order, limit=limit, offset=offset)
            page = callers_page(self.uow, listing)
        return page
