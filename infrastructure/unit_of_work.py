"""The SQLAlchemy unit of work: the only place a connection is taken for a use case, and
its transaction begun, committed or ended."""

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
from infrastructure.repositories.shared import Store
from infrastructure.repositories.users import SqlAlchemyUserRepository
from infrastructure.sessions import read_only_bind

R = TypeVar("R")


class SqlAlchemyUnitOfWork:
    """One connection and one transaction per ``with`` block.

    The block holds a plain ``Connection``: taken from the pool, with its transaction begun,
    when the block first needs it (a unit that may write), or at the start of the block (a
    read-only one, from ``sessions.read_only_bind``: no BEGIN and COMMIT around its
    statements, or one read-only snapshot if it asked). Statements (the read side, and the
    repositories' own) run on it. An ORM session is opened on it, inside its transaction,
    only when a repository loads or adds an entity: a session costs more CPU than a
    statement, and most use cases need none.

    ``__exit__`` ends the transaction (rolls back whatever was not committed; see
    ``transaction_ending``), closes the session if one was opened, and returns the
    connection to the pool, whatever happened inside. Database errors leave it as the
    application's errors (``db_errors``): a unique-constraint race becomes
    ``AlreadyExists``, an exhausted pool or an unreachable database
    ``TemporarilyUnavailable``. With ``replicas``, a read-only unit reads on the replica
    they choose (``infrastructure.replicas``), and a commit tells them where the primary's
    WAL was after it.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], replicas: Replicas | None = None
    ) -> None:
        self.session_factory = session_factory
        self.replicas = replicas
        self._engine: Engine = session_factory.kw["bind"]
        self._in_block = False
        self._connection: Connection | None = None
        self._session: Session | None = None
        self._repositories: dict[Callable[[Store], Any], Any] = {}
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
        if self._read_only is not None:
            engine = self.replicas.for_reading() if self.replicas else self._engine
            self._connection = self._connect(engine, snapshot=self._read_only)
        self._in_block = True
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
        self._in_block = False
        with translated_errors():
            # A use case's own error (a 404, a 403) leaves the transaction sound: a unit
            # that only read then ends as one that found something does (transaction_ending).
            failed = exc is not None and not isinstance(exc, ConduitError)
            try:
                if session is not None:
                    session.close()  # first: in a read-only unit it may own the transaction
                if connection is not None:
                    transaction_ending.end(connection, failed=failed)
            finally:
                if connection is not None:
                    connection.close()
            if isinstance(exc, sa_exc.SQLAlchemyError):
                raise exc  # leaves translated, if it means something to the use case

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

    def connection(self) -> Connection:
        """The connection the block's statements run on: in a unit that may write, taken on
        first use, and in a transaction (a new one after a commit or a rollback)."""
        assert self._in_block, "the connection is used outside of 'with uow:'"
        connection = self._connection
        if connection is None:
            connection = self._connection = self._engine.connect()
        if self._read_only is None and not connection.in_transaction():
            connection.begin()
        return connection

    @property
    def session(self) -> Session:
        """The block's ORM session, on its connection and in its transaction: opened when a
        repository first asks, closed when that transaction ends."""
        if self._session is None:
            self._session = self.session_factory(bind=self.connection())
        return self._session

    @property
    def users(self) -> SqlAlchemyUserRepository:
        return self.repository(SqlAlchemyUserRepository)

    @property
    def articles(self) -> SqlAlchemyArticleRepository:
        return self.repository(SqlAlchemyArticleRepository)

    @property
    def comments(self) -> SqlAlchemyCommentRepository:
        return self.repository(SqlAlchemyCommentRepository)

    def repository(self, make: Callable[[Store], R]) -> R:
        """The block's repository made by ``make`` (a repository class), made on first use
        with this unit as its ``Store``."""
        made: R | None = self._repositories.get(make)
        if made is None:
            made = self._repositories[make] = make(self)
        return made

    def commit(self) -> None:
        if self._read_only is not None:
            raise RuntimeError("a read-only unit of work does not commit")
        if self._session is not None:
            self._session.flush()  # anything added and not flushed yet goes in this commit
        self._end_session()
        if self._connection is not None:
            self._connection.commit()
            if self.replicas is not None:
                self.replicas.committed(self._connection)

    def rollback(self) -> None:
        self._end_session()
        if self._connection is not None:
            self._connection.rollback()

    def _end_session(self) -> None:
        """Close the session with the transaction it joined (its entities are let go); work
        after a commit or a rollback opens another in the next transaction."""
        session, self._session = self._session, None
        if session is not None:
            session.close()  # it joined the connection's transaction: that is left alone


def _holds_to_the_contract(uow: SqlAlchemyUnitOfWork) -> UnitOfWork:
    return uow  # the type checker's proof that this class is a UnitOfWork


def _is_a_store(uow: SqlAlchemyUnitOfWork) -> Store:
    return uow  # and a Store, what repositories are made on
