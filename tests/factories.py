"""factory-boy factories for the domain's objects, and a helper that stores them.

The factories build plain domain objects (no session needed), so the same factories serve
the fake unit of work and the real one. ``store`` persists through a real unit of work, so
integration tests exercise the mapping as well.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

import factory

from application.caller import Caller
from application.unit_of_work import UnitOfWork
from domain.articles import Article, Tag, slugify
from domain.comments import Comment
from domain.users import User

_clock = count()


def _tick() -> datetime:
    """Strictly increasing timestamps, so "newest first" is well defined in tests."""
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_clock))


class UserFactory(factory.Factory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password_hash = "not-a-real-hash"
    bio = ""
    image = ""


class ArticleFactory(factory.Factory):
    class Meta:
        model = Article

    title = factory.Sequence(lambda n: f"Article number {n}")
    slug = factory.LazyAttribute(lambda article: slugify(article.title))
    description = "What it is about"
    body = "What it says"
    author_id = 0  # set it: ArticleFactory(author_id=user.id)
    created_at = factory.LazyFunction(_tick)
    updated_at = factory.SelfAttribute("created_at")
    tags = factory.LazyFunction(list)  # or ArticleFactory(with_tags=["a", "b"])

    @factory.post_generation
    def with_tags(article: Article, _create: bool, names: list[str] | None, **_: object) -> None:
        if names:
            article.tags = [Tag(name) for name in sorted(set(names))]


class CommentFactory(factory.Factory):
    class Meta:
        model = Comment

    article_id = 0  # set it
    author_id = 0  # set it
    body = factory.Sequence(lambda n: f"Comment number {n}")
    created_at = factory.LazyFunction(_tick)
    updated_at = factory.SelfAttribute("created_at")


@dataclass(frozen=True)
class Follow:
    follower_id: int
    followee_id: int


@dataclass(frozen=True)
class Favorite:
    user_id: int
    article_slug: str


class FollowFactory(factory.Factory):
    class Meta:
        model = Follow

    follower_id = 0
    followee_id = 0


class FavoriteFactory(factory.Factory):
    class Meta:
        model = Favorite

    user_id = 0
    article_slug = ""


def store(new_uow: Callable[[], UnitOfWork], *things: object) -> None:
    """Persist users, articles, comments, follows and favorites in one unit of work.

    Stored entities get their ids, which stay readable afterwards.
    """
    with new_uow() as uow:
        for thing in things:
            match thing:
                case User():
                    uow.users.add(thing)
                case Article():
                    assert uow.articles.add(thing), f"slug taken: {thing.slug}"
                case Comment():
                    uow.comments.add(thing)
                case Follow():
                    uow.users.follow(thing.follower_id, thing.followee_id)
                case Favorite():
                    added = uow.articles.add_favorite(thing.article_slug, thing.user_id)
                    assert added is not None, f"no such article, or a favorite already: {thing}"
                case _:
                    raise TypeError(f"cannot store {thing!r}")
        uow.commit()


def as_caller(user: User | int) -> Caller:
    """The caller a fresh token of ``user`` (or of the user with this id, generation 0) names."""
    if isinstance(user, User):
        assert user.id is not None, "store the user first"
        return Caller(user.id, user.token_generation)
    return Caller(user, 0)
