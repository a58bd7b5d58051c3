"""Articles: writing, editing, deleting, favoriting, and the read side's lists."""

import secrets
from dataclasses import dataclass, replace

from application.caller import Caller
from application.lookups import (
    callers_page,
    check_page,
    require_account_view,
    require_article_for_caller,
    require_article_view,
    require_own_article,
)
from application.ports import Clock
from application.read_models import (
    ArticleFilter,
    ArticleList,
    ArticlePage,
    ArticleView,
    FollowedBy,
    ProfileView,
    UserView,
)
from application.retry import retry_on_conflict
from application.unit_of_work import UnitOfWork
from domain import articles as rules
from domain import messages
from domain.articles import Article
from domain.errors import AlreadyExists


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    title: str
    description: str
    body: str
    tag_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ArticleChanges:
    """The fields ``PUT /articles/{slug}`` may change; ``None`` leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    body: str | None = None


class ArticleService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    # -- reads ---------------------------------------------------------------------------

    def get(self, slug: str, viewer_id: int | None) -> ArticleView:
        with self.uow.read_only():
            view = require_article_view(self.uow, slug, viewer_id)
        return view

    def search(self, filters: ArticleFilter, viewer_id: int | None) -> ArticlePage:
        check_page(filters.limit, filters.offset)
        with self.uow.read_only():
            page = self.uow.reads.page(filters.as_list(), viewer_id)
        return page

    def feed(self, caller: Caller, limit: int, offset: int) -> ArticlePage:
        check_page(limit, offset)
        with self.uow.read_only():
            page = callers_page(
                self.uow, ArticleList(FollowedBy(caller), limit=limit, offset=offset)
            )
        return page

    def tags(self) -> list[str]:
        with self.uow.read_only():
            tags = self.uow.reads.tags()
        return tags

    # -- writes --------------------------------------------------------------------------

    @retry_on_conflict
    def create(self, caller: Caller, draft: ArticleDraft) -> ArticleView:
        """Write an article with its tags, all or nothing. Its slug is unique: a title whose
        slug is taken (or reserved) gets a random suffix, even when a concurrent writer
        took it a moment ago."""
        slug = rules.slugify(draft.title)
        article = Article.write(
            author_id=caller.user_id,
            slug=_suffixed(slug) if slug in rules.RESERVED_SLUGS else slug,
            title=draft.title,
            description=draft.description,
            body=draft.body,
            tag_names=list(draft.tag_names),
            now=self.clock.now(),
        )
        with self.uow:
            author = require_account_view(self.uow, caller)
            if not self.uow.articles.add(article):
                article.slug = _suffixed(slug)
                if not self.uow.articles.add(article):  # one chance in 2**32
                    raise AlreadyExists(messages.SLUG_TAKEN)
            view = _as_written(article, author)
            self.uow.commit()
        return view

    @retry_on_conflict
    def update(self, slug: str, caller: Caller, changes: ArticleChanges) -> ArticleView:
        """Only the author may edit; a new title gives a new slug."""
        with self.uow:
            article = require_own_article(self.uow, slug, caller)
            if changes.title is not None:
                # Same slug words (a typo fix, or the whole article sent back as it was):
                # the slug, and every link to it, stays.
                if rules.slugify(changes.title) != rules.slugify(article.title):
                    article.slug = self._free_slug(changes.title)
                article.title = rules.check_title(changes.title)
            if changes.description is not None:
                article.description = rules.check_description(changes.description)
            if changes.body is not None:
                article.body = rules.check_body(changes.body)
            article.updated_at = self.clock.now()
            self.uow.articles.save(article)
            view = require_article_view(self.uow, article.slug, caller.user_id)
            self.uow.commit()
        return view

    @retry_on_conflict
    def delete(self, slug: str, caller: Caller) -> None:
        """Only the author may delete; comments and favorites go with it."""
        with self.uow:
            article = require_own_article(self.uow, slug, caller)
            self.uow.articles.remove(article)
            self.uow.commit()

    @retry_on_conflict
    def favorite(self, slug: str, caller: Caller) -> ArticleView:
        """Favorite once: a second time changes nothing."""
        with self.uow:
            view = require_article_for_caller(self.uow, slug, caller)
            if not view.favorited:
                count = self.uow.articles.add_favorite(slug, caller.user_id)
                view = self._favorite_moved(view, caller, count, favorited=True)
            self.uow.commit()
        return view

    @retry_on_conflict
    def unfavorite(self, slug: str, caller: Caller) -> ArticleView:
        with self.uow:
            view = require_article_for_caller(self.uow, slug, caller)
            if view.favorited:
                count = self.uow.articles.remove_favorite(slug, caller.user_id)
                view = self._favorite_moved(view, caller, count, favorited=False)
            self.uow.commit()
        return view

    # -- helpers -------------------------------------------------------------------------

    def _free_slug(self, title: str) -> str:
        """The title's slug, or, if an article has it already (or it is reserved), the slug
        and a random suffix.

        Two requests racing for the same new slug still meet the unique constraint, which
        turns the loser into a clear 422 instead of a duplicate.
        """
        slug = rules.slugify(title)
        if slug in rules.RESERVED_SLUGS or self.uow.articles.slug_exists(slug):
            slug = _suffixed(slug)
        return slug

    def _favorite_moved(
        self, view: ArticleView, caller: Caller, count: int | None, *, favorited: bool
    ) -> ArticleView:
        """``view`` once the caller's favorite became ``favorited`` and the article's count
        ``count``. ``None``: this unit changed nothing, as another request of the caller's
        (or a delete) got there between the read and the write, so read what is there now.
        """
        if count is None:
            return require_article_view(self.uow, view.slug, caller.user_id)
        return replace(view, favorited=favorited, favorites_count=count)


def _suffixed(slug: str) -> str:
    return f"{slug}-{secrets.token_hex(4)}"


def _as_written(article: Article, author: UserView) -> ArticleView:
    """A new article as its author reads it, from what writing it holds, not read back: no
    favorites yet, the author does not follow themselves (``ProfileService`` refuses it),
    its tags sorted as the read side sorts them."""
    return ArticleView(
        slug=article.slug,
        title=article.title,
        description=article.description,
        body=article.body,
        tag_list=tuple(sorted(tag.name for tag in article.tags)),
        created_at=article.created_at,
        updated_at=article.updated_at,
        favorited=False,
        favorites_count=0,
        author=ProfileView(author.username, author.bio, author.image, following=False),
    )
