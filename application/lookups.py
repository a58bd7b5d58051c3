"""The lookups every use case shares, and the one template every use case follows.

A use case that writes::

    @retry_on_conflict                       # writes only: a lost race runs it again
    def edit(self, slug: str, caller: Caller, body: str) -> ArticleView:
        body = rules.check_body(body)        # what needs no connection, before the block
        with self.uow:
            article = require_own_article(self.uow, slug, caller)  # checks and lookups
            article.body = body
            self.uow.articles.save(article)  # every write through a repository method
            view = require_article_view(self.uow, slug, caller.user_id)  # built inside
            self.uow.commit()
        return view                          # returned after the block

A use case that only reads says so, and has no commit: ``with self.uow.read_only(): view =
require_article_view(...)``. It then runs without BEGIN and COMMIT round trips (and may run
on a replica); a write in it is refused. Lookups raise inside the block; a unit that only
read and ended in such an error (a 404, a 403) still ends with COMMIT. Writes go one way:
explicit repository methods (``add``, ``save``, ``remove``, ``follow``, ...), never dirty
tracking alone; deletes are ``remove``.
"""

from application.caller import Caller
from application.errors import NotAuthenticated
from application.read_models import (
    MAX_PAGE_SIZE,
    ArticleList,
    ArticlePage,
    ArticleView,
    CallersOwn,
    ProfileView,
    UserView,
)
from application.unit_of_work import UnitOfWork
from domain import messages
from domain.articles import Article
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.users import User


def require_user(uow: UnitOfWork, caller: Caller, *, for_update: bool = False) -> User:
    """The caller's account. A token can outlive its user, or its session (the password
    changed since it was issued), and then it no longer counts."""
    user = uow.users.get(caller.user_id, for_update=for_update)
    if user is None:
        raise NotAuthenticated(messages.TOKEN_USER_GONE)
    if user.token_generation != caller.token_generation:
        raise NotAuthenticated(messages.SESSION_ENDED)
    return user


def require_account(uow: UnitOfWork, caller: Caller) -> None:
    """As ``require_user``, for use cases that act for the caller but need nothing of theirs:
    one statement checks both that the account exists and that the session is current."""
    if not uow.users.exists(caller.user_id, caller.token_generation):
        # Rare, so it may cost a second look, to tell the client which it was.
        raise NotAuthenticated(
            messages.SESSION_ENDED
            if uow.users.get(caller.user_id) is not None
            else messages.TOKEN_USER_GONE
        )


def require_account_view(uow: UnitOfWork, caller: Caller) -> UserView:
    """The caller's account as they see it, with ``require_account``'s checks, in one
    statement of the read side (no entity is loaded); only when it finds nothing is the
    account looked up, to tell the client which check failed."""
    view = uow.reads.account(caller)
    if view is None:
        require_account(uow, caller)
        raise NotAuthenticated(messages.SESSION_ENDED)  # it changed between the two looks
    return view


def callers_page(uow: UnitOfWork, listing: ArticleList) -> ArticlePage:
    """A page of a list of the caller's own (its source a ``CallersOwn``: the feed, ...).

    Such a list has rows only while the caller's account and session hold (the read side
    checks it in the page's own statement), so only an empty page can mean they are gone,
    and only then is the account looked up: one statement per page, not two.
    """
    source = listing.source
    assert isinstance(source, CallersOwn), "a list of the caller's own"
    page = uow.reads.page(listing, source.caller.user_id)
    if not page.articles:
        require_account(uow, source.caller)
    return page


def require_profile_user(uow: UnitOfWork, username: str) -> User:
    """The user a profile path names (in any case), or 404."""
    user = uow.users.get_by_username(username)
    if user is None:
        raise NotFound(messages.PROFILE_NOT_FOUND)
    return user


def require_profile(uow: UnitOfWork, username: str, viewer_id: int | None) -> ProfileView:
    """The profile as ``viewer_id`` sees it (``None``: signed out), or 404."""
    profile = uow.reads.profile(username, viewer_id)
    if profile is None:
        raise NotFound(messages.PROFILE_NOT_FOUND)
    return profile


def require_article(uow: UnitOfWork, slug: str, *, for_update: bool = False) -> Article:
    """The article to change or link to, or 404 (``for_update``: see the repository)."""
    article = uow.articles.get_by_slug(slug, for_update=for_update)
    if article is None:
        raise NotFound(messages.ARTICLE_NOT_FOUND)
    return article


def require_own_article(uow: UnitOfWork, slug: str, caller: Caller) -> Article:
    """The caller's article, locked: edits and deletes of one article do not interleave.
    Someone else's is 403.

    Changing writes: a token of an ended session must not (one cheap statement more)."""
    require_account(uow, caller)
    article = require_article(uow, slug, for_update=True)
    if not article.is_written_by(caller.user_id):
        raise Forbidden(messages.ONLY_AUTHOR_CHANGES_ARTICLE)
    return article


def require_article_view(uow: UnitOfWork, slug: str, viewer_id: int | None) -> ArticleView:
    """The article as ``viewer_id`` sees it (``None``: signed out), or 404."""
    view = uow.reads.article(slug, viewer_id)
    if view is None:
        raise NotFound(messages.ARTICLE_NOT_FOUND)
    return view


def require_article_for_caller(uow: UnitOfWork, slug: str, caller: Caller) -> ArticleView:
    """The article as the caller sees it, or 404; as ``require_account``, a token of an ended
    session or a gone account does not count.

    One statement reads the article and checks the account and session (as a list of the
    caller's own does: ``callers_page``); only when it finds nothing is the account looked
    up, to tell which it was.
    """
    view = uow.reads.article_for_caller(slug, caller)
    if view is None:
        require_account(uow, caller)
        raise NotFound(messages.ARTICLE_NOT_FOUND)
    return view


def check_page(limit: int, offset: int) -> None:
    """A page's bounds: 1..MAX_PAGE_SIZE items, from a non-negative offset."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(messages.page_limit(MAX_PAGE_SIZE))
    if offset < 0:
        raise ValidationFailed(messages.NEGATIVE_OFFSET)
