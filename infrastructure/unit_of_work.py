"""The SQLAlchemy unit of work: the only place a session is opened, committed or closed."""

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from application.unit_of_work import UnitOfWork
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

    A block opened by ``read_only()`` holds a plain ``Connection`` from
    ``sessions.read_only_bind``: no BEGIN and COMMIT around its statements (or one read-only
    snapshot, if it asked), no commit, and no ORM session unless a repository asks for one
    (then one bound to that connection). The read side needs none, and a session is most of
    what such a unit would cost above its one statement. With ``replicas``, a read-only
    unit reads on the replica they choose (``infrastructure.replicas``), and a commit tells
    them where the primary's WAL was after it.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], replicas: Replicas | None = None
    ) -> None:
        self.session_factory = session_factory
        self.replicas = replicas
        self._session: Session | None = None
        self._connection: Connection | None = None  # a read-only unit's
        self._repositories: dict[Callable[[Session], Any], Any] = {}
        self._read_only: bool | None = None  # None: may write; else whether it wants a snapshot

    def read_only(self, *, snapshot: bool = False) -> Self:
        if self._in_block:
            raise RuntimeError("read_only() is said before the 'with' block")
        self._read_only = snapshot
        return self

    def __enter__(self) -> Self:
        if self._in_block:
            raise RuntimeError("this unit of work is already in use")
        self._repositories.clear()
        if self._read_only is None:
            self._session = self.session_factory()
        else:
            engine = (
                self.replicas.for_reading() if self.replicas else self.session_factory.kw["bind"]
            )
            self._connection = self._connect(engine, snapshot=self._read_only)
        self.reads = SqlAlchemyReadQueries(self.connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        connection, self._connection = self._connection, None
        self._read_only = None
        with translated_errors():
            # A use case's own error (a 404, a 403) leaves the transaction sound: a unit
            # that only read then ends as one that found something does (transaction_ending).
            failed = exc is not None and not isinstance(exc, ConduitError)
            try:
                if connection is None:
                    assert session is not None
                    transaction_ending.end(session, failed=failed)
                else:  # read-only: a snapshot's transaction to end, if it asked for one
                    if session is not None:
                        session.close()  # first: it may have begun a transaction on it
                    transaction_ending.end_read_only(connection, failed=failed)
            finally:
                if session is not None:
                    session.close()
                if connection is not None:
                    connection.close()
            if isinstance(exc, sa_exc.SQLAlchemyError):
                raise exc  # leaves translated, if it means something to the use case

    @property
    def _in_block(self) -> bool:
        # A block holds a session (a unit that may write) or a connection (read-only).
        return self._session is not None or self._connection is not None

    def _connect(self, engine: Engine, *, snapshot: bool) -> Connection:
        """A read-only unit's connection, in its snapshot if it asked for one."""
        try:
            with translated_errors():
                connection = read_only_bind(engine, snapshot=snapshot).connect()
                try:
                    if snapshot:
                        connection.begin()
                except BaseException:
                    connection.close()
                    raise
        except BaseException:
            self._read_only = None  # no block began
            raise
        return connection

    @property
    def session(self) -> Session:
        """The block's ORM session: a read-only unit opens one on its connection when a
        repository first asks."""
        assert self._in_block, "the session is used outside of 'with uow:'"
        if self._session is None:
            self._session = self.session_factory(bind=self._connection)
        return self._session

    def connection(self) -> Connection:
        """The connection the block's statements run on (in a unit that may write, the
        session's, in its transaction)."""
        if self._connection is not None:
            return self._connection
        return self.session.connection()

    @property
    def users(self) -> SqlAlchemyUserRepository:
        return self.repository(SqlAlchemyUserRepository)

    @property
    def articles(self) -> SqlAlchemyArticleRepository:
        return self.repository(SqlAlchemyArticleRepository)

    @property
    def comments(self) -> SqlAlchemyCommentRepository:
        return self.repository(SqlAlchemyCommentRepository)

    def repository(self, make: Callable[[Session], R]) -> R:
        made: R | None = self._repositories.get(make)
        if made is None:
            made = self._repositories[make] = make(self.session)
        return made

    def commit(self) -> None:
        if self._read_only is not None:
            raise RuntimeError("a read-only unit of work does not commit")
        self.session.commit()
        if self.replicas is not None:
            self.replicas.committed()

    def rollback(self) -> None:
        self.session.rollback()


def _holds_to_the_contract(uow: SqlAlchemyUnitOfWork) -> UnitOfWork:
    return uow  # the type checker's proof that this class is a UnitOfWork
