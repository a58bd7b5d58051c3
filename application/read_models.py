"""What the read side returns: plain, frozen results built inside a unit of work.

No ORM object leaves a unit of work; these are what services hand to the HTTP layer.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.caller import Caller

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class UserView:
    email: str
    username: str
    bio: str
    image: str


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


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """List filters; ``None`` means "any". Offsets and limits are already bounded."""

    tag: str | None = None
    author: str | None = None
    favorited_by: str | None = None
    limit: int = DEFAULT_PAGE_SIZE
    offset: int = 0


class ReadQueries(Protocol):
    """The read side: each call is a small fixed number of statements, whatever the page size.

    ``viewer_id`` is the authenticated user (``None`` for anonymous), for ``following`` and
    ``favorited``; usernames are matched in any case (``domain.users.username_key``).
    """

    def profile(self, username: str, viewer_id: int | None) -> ProfileView | None: ...

    def article(self, slug: str, viewer_id: int | None) -> ArticleView | None: ...

    def articles(self, filters: ArticleFilter, viewer_id: int | None) -> ArticlePage: ...

    def feed(self, caller: Caller, limit: int, offset: int) -> ArticlePage:
        """Articles by the authors ``caller`` follows; empty if the caller's session ended."""
        ...

    def comments(self, slug: str, viewer_id: int | None) -> list[CommentView] | None:
        """The article's comments, newest first; ``None`` if there is no such article."""
        ...

    def comment(self, comment_id: int, viewer_id: int | None) -> CommentView | None: ...

    def tags(self) -> list[str]: ...
