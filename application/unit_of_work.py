"""The unit of work: one session, one transaction, explicit commit, rollback otherwise."""

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from application.read_models import ReadQueries
from domain.articles import ArticleRepository
from domain.comments import CommentRepository
from domain.users import UserRepository

R = TypeVar("R")

# What ``UnitOfWork.repository`` takes: a repository's class, made with what the unit of
# work holds open. A service is given one: ``bookmarks: RepositoryClass[Bookmarks]``.
RepositoryClass = Callable[[Any], R]


class UnitOfWork(Protocol):
    """Use as ``with uow: ...; uow.commit()``.

    Leaving the block rolls back whatever was not committed and releases the connection,
    on success, on a domain error and on any other exception alike. An instance serves one
    use case of one request; it is never shared.
    """

    users: UserRepository
    articles: ArticleRepository
    comments: CommentRepository
    reads: ReadQueries

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def repository(self, make: RepositoryClass[R]) -> R:
        """A repository this Protocol does not name (a feature's own), on this unit of
        work's transaction: ``self.uow.repository(self.bookmarks)``.

        ``make`` is the repository's class; it is given what the unit of work holds open
        (the SQLAlchemy session; the fake unit of work itself), once per ``with`` block.
        """
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...
