"""Every use case that only reads says so (``with self.uow.read_only():``), so that it runs
without BEGIN and COMMIT (and, with replicas, off the primary); every one that writes does
not."""

from collections.abc import Callable
from typing import Any

import pytest

from application.articles import ArticleDraft, ArticleService
from application.comments import CommentService
from application.profiles import ProfileService
from application.read_models import ArticleFilter
from application.users import UserService
from tests.factories import as_caller
from tests.fakes import FakePasswordHasher, FakeTokenService, FakeUnitOfWork, FixedClock

UseCase = Callable[[FakeUnitOfWork, int, str], Any]

READS: dict[str, UseCase] = {
    "article": lambda uow, alice, slug: ArticleService(uow, FixedClock()).get(slug, alice),
    "list": lambda uow, alice, _: ArticleService(uow, FixedClock()).search(ArticleFilter(), alice),
    "feed": lambda uow, alice, _: ArticleService(uow, FixedClock()).feed(as_caller(alice), 20, 0),
    "tags": lambda uow, _alice, _slug: ArticleService(uow, FixedClock()).tags(),
    "comments": lambda uow, alice, slug: CommentService(uow, FixedClock()).for_article(slug, alice),
    "profile": lambda uow, alice, _: ProfileService(uow).get("alice", alice),
    "current user": lambda uow, alice, _: UserService(
        uow, FakePasswordHasher(), FakeTokenService()
    ).current(as_caller(alice)),
}

WRITES: dict[str, UseCase] = {
    "favorite": lambda uow, alice, slug: ArticleService(uow, FixedClock()).favorite(
        slug, as_caller(alice)
    ),
    "comment": lambda uow, alice, slug: CommentService(uow, FixedClock()).add(
        slug, as_caller(alice), "Nice."
    ),
}


@pytest.fixture
def slug(uow: FakeUnitOfWork, alice: int) -> str:
    draft = ArticleDraft(title="Dragons", description="d", body="b")
    return ArticleService(uow.another(), FixedClock()).create(as_caller(alice), draft).slug


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_read_use_case_declares_it_only_reads(uow, alice, slug, read):
    read(uow, alice, slug)
    assert uow.read_only_blocks == 1
    assert not uow.committed


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_write_use_case_does_not_declare_it(uow, alice, slug, write):
    write(uow, alice, slug)
    assert uow.read_only_blocks == 0
    assert uow.committed
