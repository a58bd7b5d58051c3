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
    """Use as ``with uow: ...; uow.commit()``, or ``with uow.read_only(): ...`` for a use
    case that only reads.

    Leaving the block rolls back whatever was not committed and releases the connection,
    on success, on a domain error and on any other exception alike. An instance serves one
    use case of one request; it is never shared.
    """

    # The block's read queries and repositories (a repository is made when first asked).
    @property
    def reads(self) -> ReadQueries: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def articles(self) -> ArticleRepository: ...
    @property
    def comments(self) -> CommentRepository: ...

    def read_only(self, *, snapshot: bool = False) -> Self:
        """Say that this use case only reads: ``with self.uow.read_only(): ...``.

        Each statement then reads what was committed when it started (what a transaction
        under PostgreSQL's READ COMMITTED gives too), without the BEGIN and COMMIT round
        trips around it; ``snapshot=True`` asks for more: every statement of the block reads
        one snapshot. Such a unit never commits, and a write in it is an error. It may run
        on a replica (``DATABASE_REPLICA_URLS``). Applies to the next ``with`` block only.
        """
        ...

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
