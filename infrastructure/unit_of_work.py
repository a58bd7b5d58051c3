"""The SQLAlchemy unit of work: the only place a session is opened, committed or closed."""

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from domain.errors import ConduitError
from infrastructure import transaction_ending
from infrastructure.db_errors import translated_errors
from infrastructure.queries import SqlAlchemyReadQueries
from infrastructure.replicas import Replicas
from infrastructure.repositories.articles import SqlAlchemyArticleRepository
from infrastructure.repositories.comments import SqlAlchemyCommentRepository
from infrastructure.repositories.users import SqlAlchemyUserRepository
from infrastructure.sessions import read_only_bind

R = TypeVar("R")


class SqlAlchemyUnitOfWork:
    """One session and one transaction per ``with`` block.

    ``__exit__`` ends the transaction (rolls back whatever was not committed; see
    ``transaction_ending``) and closes the session, returning the connection to the pool,
    whatever happened inside. Database errors leave it as the application's errors
    (``db_errors``): a unique-constraint race becomes ``AlreadyExists``, an exhausted pool
    or an unreachable database ``TemporarilyUnavailable``.

    A block opened by ``read_only()`` runs on ``sessions.read_only_bind``: no BEGIN and
    COMMIT around its statements (or one read-only snapshot, if it asked), no commit; with
    ``replicas``, on the replica they choose (``infrastructure.replicas``), and a commit tells
    them where the primary's WAL was after it.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], replicas: Replicas | None = None
    ) -> None:
        self.session_factory = session_factory
        self.replicas = replicas
        self.session: Session | None = None
        self._repositories: dict[Callable[[Session], Any], Any] = {}
        self._read_only: bool | None = None  # None: may write; else whether it wants a snapshot

    def read_only(self, *, snapshot: bool = False) -> Self:
        if self.session is not None:
            raise RuntimeError("read_only() is said before the 'with' block")
        self._read_only = snapshot
        return self

    def __enter__(self) -> Self:
        if self.session is not None:
            raise RuntimeError("this unit of work is already in use")
        if self._read_only is None:
            session = self.session_factory()
        else:
            engine = (
                self.replicas.for_reading() if self.replicas else self.session_factory.kw["bind"]
            )
            session = self.session_factory(bind=read_only_bind(engine, snapshot=self._read_only))
        self.session = session
        self.users = SqlAlchemyUserRepository(session)
        self.articles = SqlAlchemyArticleRepository(session)
        self.comments = SqlAlchemyCommentRepository(session)
        self.reads = SqlAlchemyReadQueries(session)
        self._repositories.clear()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self.session = self.session, None
        statement_wise, self._read_only = self._read_only is False, None
        assert session is not None
        with translated_errors():
            # A use case's own error (a 404, a 403) leaves the transaction sound: a unit
            # that only read then ends as one that found something does (transaction_ending).
            # A statement-wise read-only unit has no transaction to end (autocommit).
            failed = exc is not None and not isinstance(exc, ConduitError)
            try:
                if not statement_wise:
                    transaction_ending.end(session, failed=failed)
            finally:
                session.close()
            if isinstance(exc, sa_exc.SQLAlchemyError):
                raise exc  # leaves translated, if it means something to the use case

    def repository(self, make: Callable[[Session], R]) -> R:
        assert self.session is not None, "repository() outside of 'with uow:'"
        if make not in self._repositories:
            self._repositories[make] = make(self.session)
        made: R = self._repositories[make]
        return made

    def commit(self) -> None:
        assert self.session is not None, "commit() outside of 'with uow:'"
        if self._read_only is not None:
            raise RuntimeError("a read-only unit of work does not commit")
        self.session.commit()
        if self.replicas is not None:
            self.replicas.committed()

    def rollback(self) -> None:
        assert self.session is not None, "rollback() outside of 'with uow:'"
        self.session.rollback()
