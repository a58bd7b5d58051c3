"""In-memory fakes of the unit of work, its repositories, its read side and the ports.

They keep entities in dicts and follow the SQLAlchemy implementations' rules (ids assigned
on add, unique emails, usernames and slugs, idempotent follows and favorites, tags stored
once by name, an article's comments and favorites removed with it). The contract tests in
tests/integration/test_repository_contract.py run the same tests against both.

What they do not do is roll back: a fake unit of work only records that it would have.
"""

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

from application.caller import Caller
from application.errors import NotAuthenticated
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
from domain import messages
from domain.articles import Article, Tag
from domain.comments import Comment
from domain.errors import AlreadyExists
from domain.users import User, username_key

R = TypeVar("R")


class FakeUserRepository:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.follows: set[tuple[int, int]] = set()  # (follower_id, followee_id)
        self._next_id = 1

    def add(self, user: User) -> None:
        self._ensure_unique(user)
        user.id, self._next_id = self._next_id, self._next_id + 1
        self.users[user.id] = user

    def save(self, user: User) -> None:
        # The stored object is the caller's object: its changes are already here.
        self._ensure_unique(user)

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        return self.users.get(user_id)

    def exists(self, user_id: int, token_generation: int) -> bool:
        user = self.users.get(user_id)
        return user is not None and user.token_generation == token_generation

    def get_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email == email), None)

    def get_by_username(self, username: str) -> User | None:
        key = username_key(username)
        return next((u for u in self.users.values() if username_key(u.username) == key), None)

    def follow(self, follower_id: int, followee_id: int) -> None:
        self.follows.add((follower_id, followee_id))

    def unfollow(self, follower_id: int, followee_id: int) -> None:
        self.follows.discard((follower_id, followee_id))

    def _ensure_unique(self, user: User) -> None:
        # The unique constraints of the users table, with the messages the real UoW gives.
        other = self.get_by_email(user.email)
        if other is not None and other is not user:
            raise AlreadyExists(messages.EMAIL_TAKEN)
        other = self.get_by_username(user.username)
        if other is not None and other is not user:
            raise AlreadyExists(messages.USERNAME_TAKEN)


class FakeCommentRepository:
    def __init__(self) -> None:
        self.comments: dict[int, Comment] = {}
        self._next_id = 1

    def add(self, comment: Comment) -> None:
        comment.id, self._next_id = self._next_id, self._next_id + 1
        self.comments[comment.id] = comment

    def get(self, comment_id: int) -> Comment | None:
        return self.comments.get(comment_id)

    def remove(self, comment: Comment) -> None:
        assert comment.id is not None
        del self.comments[comment.id]


class FakeArticleRepository:
    def __init__(self, comments: FakeCommentRepository) -> None:
        self.articles: dict[int, Article] = {}
        self.tags: dict[str, Tag] = {}  # by name: each name stored once
        self.favorites: set[tuple[int, int]] = set()  # (user_id, article_id)
        self._comments = comments  # removing an article removes its comments
        self._next_id = 1
        self._next_tag_id = 1

    def add(self, article: Article) -> bool:
        if self.slug_exists(article.slug):
            return False
        article.tags = [self._stored_tag(name) for name in sorted({t.name for t in article.tags})]
        article.id, self._next_id = self._next_id, self._next_id + 1
        self.articles[article.id] = article
        return True

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Article | None:
        return next((a for a in self.articles.values() if a.slug == slug), None)

    def slug_exists(self, slug: str) -> bool:
        return self.get_by_slug(slug) is not None

    def save(self, article: Article) -> None:
        # The stored object is the caller's object: its changes are already here.
        self._ensure_slug_free(article)

    def remove(self, article: Article) -> None:
        assert article.id is not None
        del self.articles[article.id]
        self.favorites = {(u, a) for u, a in self.favorites if a != article.id}
        for comment in [c for c in self._comments.comments.values() if c.article_id == article.id]:
            self._comments.remove(comment)

    def add_favorite(self, slug: str, user_id: int) -> int | None:
        article = self.get_by_slug(slug)
        if article is None or (user_id, article.id) in self.favorites:
            return None
        assert article.id is not None
        self.favorites.add((user_id, article.id))
        article.favorites_count += 1
        return article.favorites_count

    def remove_favorite(self, slug: str, user_id: int) -> int | None:
        article = self.get_by_slug(slug)
        if article is None or (user_id, article.id) not in self.favorites:
            return None
        self.favorites.discard((user_id, article.id))
        article.favorites_count -= 1
        return article.favorites_count

    def _stored_tag(self, name: str) -> Tag:
        if name not in self.tags:
            self.tags[name] = Tag(name, id=self._next_tag_id)
            self._next_tag_id += 1
        return self.tags[name]

    def _ensure_slug_free(self, article: Article) -> None:
        other = self.get_by_slug(article.slug)
        if other is not None and other is not article:
            raise AlreadyExists("an article with this title was just written; please try again")


class FakeReadQueries:
    """The read side over a fake unit of work's repositories, with the SQL read side's
    ordering rules. List parts (``fake_part``) reach any repository through ``uow``."""

    def __init__(self, uow: "FakeUnitOfWork") -> None:
        self.uow = uow

    def account(self, caller: Caller) -> UserView | None:
        user = self.uow.users.get(caller.user_id)
        if user is None or user.token_generation != caller.token_generation:
            return None
        return UserView.of(user)

    def profile(self, username: str, viewer_id: int | None) -> ProfileView | None:
        user = self.uow.users.get_by_username(username)
        return self._profile(user, viewer_id) if user is not None else None

    def article(self, slug: str, viewer_id: int | None) -> ArticleView | None:
        article = self.uow.articles.get_by_slug(slug)
        return self._article(article, viewer_id, with_body=True) if article is not None else None

    def article_for_caller(self, slug: str, caller: Caller) -> ArticleView | None:
        if not self.uow.users.exists(caller.user_id, caller.token_generation):
            return None
        return self.article(slug, caller.user_id)

    def page(self, listing: ArticleList, viewer_id: int | None) -> ArticlePage:
        source = listing.source
        if isinstance(source, CallersOwn):
            caller = source.caller
            if not self.uow.users.exists(caller.user_id, caller.token_generation):
                return ArticlePage(articles=(), total=0)
        found = _fake(type(source)).rows(self, source)
        for part in listing.filters:
            keep = _fake(type(part)).keep
            found = [row for row in found if keep(self, part, row)]
        found = _fake(type(listing.order)).order(found)
        page = found[listing.offset : listing.offset + listing.limit]
        return ArticlePage(
            articles=tuple(self._article(row.article, viewer_id, with_body=False) for row in page),
            total=len(found),
        )

    def comments(self, slug: str, viewer_id: int | None) -> list[CommentView] | None:
        article = self.uow.articles.get_by_slug(slug)
        if article is None:
            return None
        found = [c for c in self.uow.comments.comments.values() if c.article_id == article.id]
        return [self._comment(c, viewer_id) for c in sorted(found, key=_id, reverse=True)]

    def comment(self, comment_id: int, viewer_id: int | None) -> CommentView | None:
        comment = self.uow.comments.get(comment_id)
        return self._comment(comment, viewer_id) if comment is not None else None

    def tags(self) -> list[str]:
        return sorted(self.uow.articles.tags)

    def _article(self, article: Article, viewer_id: int | None, *, with_body: bool) -> ArticleView:
        author = self.uow.users.get(article.author_id)
        assert author is not None, "an article's author exists"
        return ArticleView(
            slug=article.slug,
            title=article.title,
            description=article.description,
            body=article.body if with_body else None,
            tag_list=tuple(sorted(tag.name for tag in article.tags)),
            created_at=article.created_at,
            updated_at=article.updated_at,
            favorited=(viewer_id, article.id) in self.uow.articles.favorites,
            favorites_count=article.favorites_count,
            author=self._profile(author, viewer_id),
        )

    def _comment(self, comment: Comment, viewer_id: int | None) -> CommentView:
        author = self.uow.users.get(comment.author_id)
        assert author is not None and comment.id is not None
        return CommentView(
            id=comment.id,
            body=comment.body,
            created_at=comment.created_at,
            updated_at=comment.updated_at,
            author=self._profile(author, viewer_id),
        )

    def _profile(self, user: User, viewer_id: int | None) -> ProfileView:
        return ProfileView(
            username=user.username,
            bio=user.bio,
            image=user.image,
            following=(viewer_id, user.id) in self.uow.users.follows,
        )


class Listed(NamedTuple):
    """A row of a fake list: the article, and the link row the source walked to reach it
    (a bookmark, say: what an order by the link's time sorts on), if any."""

    article: Article
    link: object = None


@dataclass(frozen=True, slots=True)
class FakePart:
    """How one part type of an ``ArticleList`` reads in the fake, as ``SqlPart`` in SQL: a
    source gives rows, a filter keeps some, an order sorts them."""

    rows: Callable[[FakeReadQueries, Any], list[Listed]] = lambda reads, part: []
    keep: Callable[[FakeReadQueries, Any, Listed], bool] = lambda reads, part, row: True
    order: Callable[[list[Listed]], list[Listed]] = lambda rows: rows


_FAKE_PARTS: dict[type, FakePart] = {}


def fake_part(kind: type, **how: Callable[..., Any]) -> None:
    """Say how parts of type ``kind`` read in the fake, once per part type: a source with
    ``rows``, a filter with ``keep``, an order with ``order``."""
    if kind in _FAKE_PARTS:
        raise ValueError(f"{kind.__name__} already reads in the fake")
    role = next(r for base, r in _ROLES.items() if issubclass(kind, base))
    if set(how) != {role}:
        raise TypeError(f"{kind.__name__} reads with {role}=..., not {sorted(how)}")
    _FAKE_PARTS[kind] = FakePart(**how)


_ROLES = {ListSource: "rows", ListFilter: "keep", ListOrder: "order"}


def _fake(kind: type) -> FakePart:
    try:
        return _FAKE_PARTS[kind]
    except KeyError:
        raise LookupError(
            f"{kind.__name__} has no fake: say how it reads with fake_part()"
        ) from None


def _user_id(reads: FakeReadQueries, username: str) -> int | None:
    user = reads.uow.users.get_by_username(username)
    return user.id if user is not None else None


def _followed(reads: FakeReadQueries, part: FollowedBy) -> list[Listed]:
    reader = part.caller
    followed = {
        followee for follower, followee in reads.uow.users.follows if follower == reader.user_id
    }
    return [Listed(a) for a in reads.uow.articles.articles.values() if a.author_id in followed]


fake_part(
    AllArticles,
    rows=lambda reads, part: [Listed(a) for a in reads.uow.articles.articles.values()],
)
fake_part(FollowedBy, rows=_followed)
fake_part(
    TaggedWith, keep=lambda reads, part, row: any(t.name == part.tag for t in row.article.tags)
)
fake_part(
    WrittenBy,
    keep=lambda reads, part, row: row.article.author_id == _user_id(reads, part.username),
)
fake_part(
    FavoritedBy,
    keep=lambda reads, part, row: (
        (_user_id(reads, part.username), row.article.id) in reads.uow.articles.favorites
    ),
)
fake_part(
    NewestFirst,
    order=lambda rows: sorted(
        rows, key=lambda r: (r.article.created_at, r.article.id), reverse=True
    ),
)


def _id(comment: Comment) -> int:
    assert comment.id is not None
    return comment.id


class FakeUnitOfWork:
    """The UnitOfWork Protocol over in-memory repositories.

    ``committed`` and ``rolled_back`` describe the last ``with`` block: entering resets
    them, ``commit()`` sets ``committed``, and leaving without a commit sets ``rolled_back``
    (nothing is undone: the fake only records it). ``another()`` gives a new unit of work on
    the same data, as the next request would get.
    """

    def __init__(
        self,
        users: FakeUserRepository | None = None,
        articles: FakeArticleRepository | None = None,
        comments: FakeCommentRepository | None = None,
        repositories: dict[Callable[[Any], Any], Any] | None = None,
    ) -> None:
        self.users = users or FakeUserRepository()
        self.comments = comments or FakeCommentRepository()
        self.articles = articles or FakeArticleRepository(self.comments)
        self.reads = FakeReadQueries(self)
        # A feature's own fake repositories (``repository()``), shared by ``another()``.
        self._repositories = {} if repositories is None else repositories
        self.committed = False
        self.rolled_back = False
        self._active = False
        self.read_only_blocks = 0  # how many blocks were declared read-only
        self._read_only: bool | None = None

    def another(self) -> "FakeUnitOfWork":
        return FakeUnitOfWork(self.users, self.articles, self.comments, self._repositories)

    def repository(self, make: Callable[["FakeUnitOfWork"], R]) -> R:
        """The fake repository ``make`` makes of this unit of work's data: made once, kept
        for every later unit of work on the same data (its rows are its own)."""
        assert self._active, "repository() outside of 'with uow:'"
        if make not in self._repositories:
            self._repositories[make] = make(self)
        made: R = self._repositories[make]
        return made

    def __enter__(self) -> Self:
        if self._active:
            raise RuntimeError("this unit of work is already in use")
        self._active = True
        self.committed = self.rolled_back = False
        if self._read_only is not None:
            self.read_only_blocks += 1
        return self

    def read_only(self, *, snapshot: bool = False) -> Self:
        if self._active:
            raise RuntimeError("read_only() is said before the 'with' block")
        self._read_only = snapshot
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        self._read_only = None
        if not self.committed:
            self.rollback()

    def commit(self) -> None:
        assert self._active, "commit() outside of 'with uow:'"
        if self._read_only is not None:
            raise RuntimeError("a read-only unit of work does not commit")
        self.committed = True

    def rollback(self) -> None:
        self.committed = False
        self.rolled_back = True


class FakePasswordHasher:
    """Cheap and readable: the hash of ``"pw"`` is ``"hashed:pw"``."""

    def hash(self, password: str) -> str:
        return f"hashed:{password}"

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == self.hash(password)


class CountingHasher(FakePasswordHasher):
    """Counts the passwords it verified: the expensive step, in production."""

    def __init__(self) -> None:
        self.verified = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return super().verify(password_hash, password)


class FakeTokenService:
    """Readable tokens: ``token-for-7`` (generation 0) or ``token-for-7-gen-2``."""

    def issue(self, caller: Caller) -> str:
        generation = f"-gen-{caller.token_generation}" if caller.token_generation else ""
        return f"token-for-{caller.user_id}{generation}"

    def verify(self, token: str) -> Caller:
        prefix = "token-for-"
        user_id, _, generation = token.removeprefix(prefix).partition("-gen-")
        if not token.startswith(prefix) or not user_id.isdigit():
            raise NotAuthenticated(messages.TOKEN_INVALID)
        if generation and not generation.isdigit():
            raise NotAuthenticated(messages.TOKEN_INVALID)
        return Caller(int(user_id), int(generation or 0))


class FixedClock:
    """A clock that stands still until told to move."""

    def __init__(self, moment: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float = 1) -> None:
        self.moment += timedelta(seconds=seconds)


class FakeLoginAttempts:
    """The LoginAttempts port as a moving window per account, on a clock the test moves."""

    def __init__(self, limit: int = 3, window_seconds: float = 900) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.now = 0.0
        self.attempts: dict[str, list[float]] = {}

    def admit(self, account: str) -> int | None:
        recent = [t for t in self.attempts.get(account, []) if t > self.now - self.window_seconds]
        if len(recent) >= self.limit:
            self.attempts[account] = recent
            return max(1, math.ceil(recent[0] + self.window_seconds - self.now))
        self.attempts[account] = [*recent, self.now]
        return None

    def succeeded(self, account: str) -> None:
        self.attempts.pop(account, None)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class GatedHasher:
    """A password hasher whose work waits at a gate: a hash that takes as long as a test
    wants. Verifications always wait there; hashes too with ``gate_hashes``. Each one
    releases ``waiting`` as it reaches the gate, and counts in ``finished`` once through."""

    def __init__(self, gate_hashes: bool = False, patience: float | None = None) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Semaphore(0)
        self.finished = 0
        self.gate_hashes = gate_hashes
        self.patience = patience  # how long one waits at a shut gate (None: for ever)

    def _through_the_gate(self) -> None:
        self.waiting.release()
        self.gate.wait(self.patience)
        self.finished += 1

    def hash(self, password: str) -> str:
        if self.gate_hashes:
            self._through_the_gate()
        return f"hashed:{password}"

    def verify(self, password_hash: str, password: str) -> bool:
        self._through_the_gate()
        return password_hash == f"hashed:{password}"
