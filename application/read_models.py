"""The read side: what it returns, and how a use case describes a list of articles.

What it returns are plain, frozen results built inside a unit of work: no ORM object
leaves a unit of work; these are what services hand to the HTTP layer.

A list of articles is described in parts: where its rows come from (``ListSource``), what
narrows them (``ListFilter``), their order (``ListOrder``). A use case says which list it
wants (``ArticleList(FollowedBy(caller), limit=20)``); each read side interprets the parts,
the SQL one as clauses (``infrastructure/queries.py``), the fake one in Python
(``tests/fakes.py``), with one translation per part type on each side. So a new list puts
existing parts together, and a new part is one small frozen dataclass (in the use case's
module) plus one translation on each side: no existing statement changes.

A part's type is its shape: its fields are values a statement binds, never a switch that
changes the statement (that is another part), so one statement is built per combination of
part types and reused for every value.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.caller import Caller
from domain.users import User

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class UserView:
    email: str
    username: str
    bio: str
    image: str

    @staticmethod
    def of(user: User) -> "UserView":
        """The account as its owner sees it, from the entity a use case holds."""
        return UserView(email=user.email, username=user.username, bio=user.bio, image=user.image)


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    user: UserView
    token: str


@dataclass(frozen=True, slots=True)
class ProfileView:
    username: str
    bio: str
    image: str
    following: bool


@dataclass(frozen=True, slots=True)
class ArticleView:
    """One article as a reader sees it. ``body`` is ``None`` in lists, which omit it."""

    slug: str
    title: str
    description: str
    body: str | None
    tag_list: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    favorited: bool
    favorites_count: int
    author: ProfileView


@dataclass(frozen=True, slots=True)
class ArticlePage:
    articles: tuple[ArticleView, ...]
    total: int


@dataclass(frozen=True, slots=True)
class CommentView:
    id: int
    body: str
    created_at: datetime
    updated_at: datetime
    author: ProfileView


class ListSource:
    """Where a list's articles come from: all of them, or a link walked from a user..."""

    __slots__ = ()


class ListFilter:
    """A condition every listed article meets; all of a list's filters apply."""

    __slots__ = ()


class ListOrder:
    """The order of a list, ties broken so that pages never overlap."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class AllArticles(ListSource):
    pass


@dataclass(frozen=True, slots=True)
class CallersOwn(ListSource):
    """A source that walks the caller's own links (whom they follow, what they keep).

    Each read side gives it no rows at all unless the caller's account exists in the
    token's session generation, checked inside the page's one statement; so a use case
    reads it with ``application.lookups.callers_page``, which looks the account up only
    when the page comes back empty. Subclass it for a new list of the caller's own.
    """

    caller: Caller


@dataclass(frozen=True, slots=True)
class FollowedBy(CallersOwn):
    """The feed: articles by the authors the caller follows."""


@dataclass(frozen=True, slots=True)
class TaggedWith(ListFilter):
    tag: str


@dataclass(frozen=True, slots=True)
class WrittenBy(ListFilter):
    """By the author of this username, in any case (``domain.users.username_key``)."""

    username: str


@dataclass(frozen=True, slots=True)
class FavoritedBy(ListFilter):
    """Favorited by the user of this username, in any case."""

    username: str


@dataclass(frozen=True, slots=True)
class NewestFirst(ListOrder):
    """The newest article first; of two written at the same moment, the later added."""


@dataclass(frozen=True, slots=True)
class ArticleList:
    """One page of a list of articles. Offsets and limits are already bounded."""

    source: ListSource = AllArticles()
    filters: tuple[ListFilter, ...] = ()
    order: ListOrder = NewestFirst()
    limit: int = DEFAULT_PAGE_SIZE
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """The filters of ``GET /articles``; ``None`` means "any"."""

    tag: str | None = None
    author: str | None = None
    favorited_by: str | None = None
    limit: int = DEFAULT_PAGE_SIZE
    offset: int = 0

    def as_list(self) -> ArticleList:
        filters: list[ListFilter] = []
        if self.tag is not None:
            filters.append(TaggedWith(self.tag))
        if self.author is not None:
            filters.append(WrittenBy(self.author))
        if self.favorited_by is not None:
            filters.append(FavoritedBy(self.favorited_by))
        return ArticleList(filters=tuple(filters), limit=self.limit, offset=self.offset)


class ReadQueries(Protocol):
    """The read side: each call is a small fixed number of statements, whatever the page size.

    ``viewer_id`` is the authenticated user (``None`` for anonymous), for ``following`` and
    ``favorited``; usernames are matched in any case (``domain.users.username_key``).
    """

    def account(self, caller: Caller) -> UserView | None:
        """The caller's account as they see it; ``None`` if it is gone or the caller's
        session ended (``application.lookups.require_account_view``)."""
        ...

    def profile(self, username: str, viewer_id: int | None) -> ProfileView | None: ...

    def article(self, slug: str, viewer_id: int | None) -> ArticleView | None: ...

    def article_for_caller(self, slug: str, caller: Caller) -> ArticleView | None:
        """The article as the caller sees it; ``None`` if there is no such article, or if the
        caller's account or session no longer holds (checked in the same statement, as a
        ``CallersOwn`` list does: ``application.lookups.require_article_for_caller``)."""
        ...

    def page(self, listing: ArticleList, viewer_id: int | None) -> ArticlePage:
        """One page of the list, without bodies, and how many articles the list has."""
        ...

    def comments(self, slug: str, viewer_id: int | None) -> list[CommentView] | None:
        """The article's comments, newest first; ``None`` if there is no such article."""
        ...

    def comment(self, comment_id: int, viewer_id: int | None) -> CommentView | None: ...

    def tags(self) -> list[str]: ...
