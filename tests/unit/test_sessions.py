"""Every use case that acts for a caller refuses a caller whose session ended.

A password change moves the account to its next session generation (``User.change_password``);
a ``Caller`` of an earlier generation is then ``NotAuthenticated``, and nothing is committed.
"""

from collections.abc import Callable
from typing import Any

import pytest

from application.articles import ArticleChanges, ArticleDraft, ArticleService
from application.caller import Caller
from application.comments import CommentService
from application.errors import NotAuthenticated
from application.profiles import ProfileService
from tests.factories import as_caller
from tests.fakes import FakeUnitOfWork, FixedClock
from tests.unit.conftest import stored_user_id

UseCase = Callable[[FakeUnitOfWork, Caller, dict[str, Any]], object]

DRAFT = ArticleDraft(title="Dragons", description="d", body="b")

USE_CASES: dict[str, UseCase] = {
    "follow": lambda uow, who, _: ProfileService(uow).follow(who, "bob"),
    "unfollow": lambda uow, who, _: ProfileService(uow).unfollow(who, "bob"),
    "feed": lambda uow, who, _: ArticleService(uow, FixedClock()).feed(who, 20, 0),
    "create": lambda uow, who, _: ArticleService(uow, FixedClock()).create(who, DRAFT),
    "update": lambda uow, who, made: ArticleService(uow, FixedClock()).update(
        made["slug"], who, ArticleChanges(body="rewritten")
    ),
    "delete": lambda uow, who, made: ArticleService(uow, FixedClock()).delete(made["slug"], who),
    "favorite": lambda uow, who, made: ArticleService(uow, FixedClock()).favorite(
        made["slug"], who
    ),
    "unfavorite": lambda uow, who, made: ArticleService(uow, FixedClock()).unfavorite(
        made["slug"], who
    ),
    "comment": lambda uow, who, made: CommentService(uow, FixedClock()).add(
        made["slug"], who, "hi"
    ),
    "delete-comment": lambda uow, who, made: CommentService(uow, FixedClock()).delete(
        made["slug"], made["comment_id"], who
    ),
}


@pytest.mark.parametrize("use_case", USE_CASES)
def test_a_caller_whose_session_ended_is_not_authenticated(
    uow: FakeUnitOfWork, alice: int, use_case: str
) -> None:
    stored_user_id(uow, "bob")
    before = as_caller(alice)
    articles = ArticleService(uow.another(), FixedClock())
    slug = articles.create(before, ArticleDraft(title="Hers", description="d", body="b")).slug
    comment = CommentService(uow.another(), FixedClock()).add(slug, before, "mine")
    ProfileService(uow.another()).follow(before, "bob")
    stored = uow.users.get(alice)
    assert stored is not None
    stored.change_password("hashed:new")

    with pytest.raises(NotAuthenticated, match="session ended"):
        USE_CASES[use_case](uow, before, {"slug": slug, "comment_id": comment.id})

    assert not uow.committed
    # The current session does what the ended one could not.
    USE_CASES[use_case](uow.another(), Caller(alice, 1), {"slug": slug, "comment_id": comment.id})
