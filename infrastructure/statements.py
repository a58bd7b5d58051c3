"""Prebuilt statements run straight on the driver: the one way the read side and the
repositories execute SQL.

SQLAlchemy builds the SQL; a ``Statement`` compiles it once per dialect (the SQL string,
the order and style of its parameters, the bind and result processors the dialect's types
need: SQLite stores datetimes and JSON as strings) and then runs it on the DBAPI cursor of
the ``Connection`` it is given, the one the unit of work's session holds its transaction
on. What it leaves out is SQLAlchemy's per-execution work between a compiled statement and
the driver (cache key, execution context, result object, row objects): rows come back as
the driver's tuples, in the order of the statement's columns.

What it keeps, because the rest of the service relies on it:

- the engine's ``before_cursor_execute`` / ``after_cursor_execute`` listeners see every
  statement, as for any other execution (the statement counter, and ``transaction_ending``,
  which reads ``context.compiled`` to tell reads from writes: ``context`` is an
  ``Execution``, the part of an execution context those listeners use);
- a driver error goes through the Connection's own handling: it leaves as SQLAlchemy's
  ``DBAPIError`` (translated by ``db_errors`` as any other), the ``handle_error`` listeners
  see it, and a connection that died is invalidated in the pool
  (``connection_invalidated``).

The DBAPI interface is used (``cursor()``, the dialect's ``do_execute``, ``fetchall``,
``description``, ``rowcount``), with the dialect's own paramstyle, so the same statements
run on psycopg, pysqlite and SQLAlchemy's asyncpg adapter. One exception: a read in
autocommit on asyncpg (a read-only unit of work's, on the bridge) is sent by asyncpg
itself, past the adapter's cursor (``_read_on_asyncpg``: 3-6% of a read's instructions), with
the same listeners and the same errors. (The engine's ``echo`` log does not show the
statements; the statement counter's record does.)
"""

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import BindTyping, DBAPICursor
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util import await_only

R = TypeVar("R")
Row = tuple[Any, ...]
_Processor = Callable[[Any], Any]
_NOTHING: Mapping[str, Any] = {}


class Execution:
    """What the engine's cursor listeners get as ``context`` for a ``Statement``: the
    compiled statement and what kind of statement it is (those listeners' part of
    SQLAlchemy's ``ExecutionContext``)."""

    __slots__ = ("compiled", "executemany", "isdelete", "isinsert", "isupdate", "statement")

    def __init__(self, statement: "Statement", compiled: SQLCompiler) -> None:
        self.statement = statement
        self.compiled = compiled
        self.isinsert = compiled.isinsert
        self.isupdate = compiled.isupdate
        self.isdelete = compiled.isdelete
        self.executemany = False


class _Compiled:
    """A statement compiled for one dialect, with everything each execution needs."""

    __slots__ = (
        "_binds",
        "_convert",
        "_described",
        "_positional",
        "_required",
        "dialect",
        "execution",
        "on_asyncpg",
        "sql",
    )

    def __init__(self, statement: "Statement", dialect: Dialect) -> None:
        if dialect.bind_typing is BindTyping.SETINPUTSIZES:
            raise NotImplementedError(f"{dialect.name}: drivers that need setinputsizes()")
        compiled = statement.element.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("expanding or literal-execute parameters are compiled per call")
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("Python-side column defaults are SQLAlchemy's execution's work")
        self.dialect = dialect
        self.on_asyncpg = dialect.driver == "asyncpg"
        self.sql: str = compiled.string
        self.execution = Execution(statement, compiled)
        self._positional = compiled.positional
        defaults = compiled.construct_params(_check=False, escape_names=False)
        self._required = frozenset(
            name for bind, name in compiled.bind_names.items() if bind.required
        )
        processors: Mapping[str, Any] = compiled._bind_processors
        escaped = compiled.escaped_bind_names
        names: Sequence[str] = compiled.positiontup or () if self._positional else list(defaults)
        # (the driver's name, the statement's name, its value if not given, its processor)
        self._binds = tuple(
            (escaped.get(name, name), name, defaults.get(name), processors.get(name))
            for name in names
        )
        self._convert: Callable[[Row], Row] | None = None
        self._described = False  # _convert is known once a cursor has described the rows

    def parameters(self, given: Mapping[str, Any]) -> Any:
        """The parameters as the driver takes them: a sequence in the SQL's order, or a
        mapping by (escaped) name."""
        missing = self._required.difference(given)
        if missing:
            raise sa_exc.InvalidRequestError(f"a value is required for {sorted(missing)}")
        if self._positional:
            values = []
            for _key, name, default, process in self._binds:
                value = given.get(name, default)
                values.append(process(value) if process is not None else value)
            return self.dialect.execute_sequence_format(values)
        named = {}
        for key, name, default, process in self._binds:
            value = given.get(name, default)
            named[key] = process(value) if process is not None else value
        return named

    @property
    def described(self) -> bool:
        """Whether a cursor has described the rows: ``converter`` is known without one."""
        return self._described

    def converter(self, cursor: DBAPICursor | None) -> Callable[[Row], Row] | None:
        """What each row needs before the caller sees it (None: nothing), from the result
        types' processors for the column types the driver describes (known at the first
        execution; the same for every later one: then ``cursor`` may be None)."""
        if self._described:
            return self._convert
        assert cursor is not None, "a statement's first run is described by its cursor"
        columns = self.execution.compiled._result_columns
        description = cursor.description or ()
        processors = [
            (index, column.type._cached_result_processor(self.dialect, described[1]))
            for index, (column, described) in enumerate(zip(columns, description, strict=False))
        ]
        needed = tuple((index, process) for index, process in processors if process is not None)
        self._convert = _row_converter(needed) if needed else None
        self._described = True
        return self._convert


def _row_converter(processors: tuple[tuple[int, _Processor], ...]) -> Callable[[Row], Row]:
    def convert(row: Row) -> Row:
        values = list(row)
        for index, process in processors:
            values[index] = process(values[index])
        return tuple(values)

    return convert


class Statement:
    """A SQLAlchemy Core statement, compiled once per dialect and run on the driver.

    Build it once (at import, or cached per shape) with ``bindparam`` for what varies;
    run it with that call's values:

        _PROFILE = Statement(select(users.c.username, ...).where(... == bindparam("name")))
        row = _PROFILE.first(session.connection(), {"name": name})   # tuple or None

    Values it is not given are the statement's own (a literal's); a ``bindparam`` without
    one must be given. Extra keys are ignored (one parameter dict may serve several
    variants of a statement).
    """

    __slots__ = ("__weakref__", "_by_dialect", "_last", "_lock", "element")

    def __init__(self, element: ClauseElement) -> None:
        self.element = element
        self._by_dialect: WeakKeyDictionary[Dialect, _Compiled] = WeakKeyDictionary()
        self._last: _Compiled | None = None  # the one the process uses, without a lookup
        self._lock = threading.Lock()

    def rows(self, connection: Connection, parameters: Mapping[str, Any] = _NOTHING) -> list[Row]:
        """Every row."""
        return self._run(connection, parameters, _all_rows)

    def first(self, connection: Connection, parameters: Mapping[str, Any] = _NOTHING) -> Row | None:
        """The first row, or None."""
        return self._run(connection, parameters, _first_row)

    def scalar(self, connection: Connection, parameters: Mapping[str, Any] = _NOTHING) -> Any:
        """The first column of the first row, or None."""
        row = self.first(connection, parameters)
        return row[0] if row is not None else None

    def scalars(
        self, connection: Connection, parameters: Mapping[str, Any] = _NOTHING
    ) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self._run(connection, parameters, _all_rows)]

    def run(self, connection: Connection, parameters: Mapping[str, Any] = _NOTHING) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        return self._run(connection, parameters, _row_count)

    def _compiled(self, dialect: Dialect) -> _Compiled:
        last = self._last
        if last is not None and last.dialect is dialect:
            return last
        with self._lock:
            compiled = self._by_dialect.get(dialect)
            if compiled is None:
                compiled = self._by_dialect[dialect] = _Compiled(self, dialect)
        self._last = compiled
        return compiled

    def _run(
        self,
        connection: Connection,
        parameters: Mapping[str, Any],
        fetch: Callable[[DBAPICursor, _Compiled], R],
    ) -> R:
        compiled = self._compiled(connection.dialect)
        sql, driver_parameters = compiled.sql, compiled.parameters(parameters)
        pooled = connection.connection  # SQLAlchemy's: fails if invalidated
        if compiled.on_asyncpg and compiled.described and pooled.autocommit:
            asyncpg_read = _ASYNCPG_READS.get(fetch)
            if asyncpg_read is not None:
                read: R = _read_on_asyncpg(
                    connection, pooled, asyncpg_read, compiled, driver_parameters
                )
                return read
        cursor: DBAPICursor | None = None
        try:
            cursor = pooled.cursor()
            sql, driver_parameters = _before(connection, cursor, sql, driver_parameters, compiled)
            compiled.dialect.do_execute(cursor, sql, driver_parameters, None)
            _after(connection, cursor, sql, driver_parameters, compiled)
            result = fetch(cursor, compiled)
        except BaseException as error:
            # Wraps it as DBAPIError, runs the handle_error listeners, and invalidates the
            # connection (in the pool too) when the driver says it is gone; always raises.
            connection._handle_dbapi_exception(error, sql, driver_parameters, cursor, None)
        cursor.close()
        return result


def _read_on_asyncpg(
    connection: Connection,
    pooled: PoolProxiedConnection,
    read: str,
    compiled: _Compiled,
    parameters: Any,
) -> Any:
    """A read in autocommit on asyncpg, sent by asyncpg itself (``read``: its connection's
    ``fetch`` or ``fetchrow``), past the adapter's DBAPI cursor.

    The cursor costs 0.03-0.04 ms a read (``make bench BENCH_ARGS=--layers``, its ``cursor``
    row): its lock, the adapter's own cache of prepared statements, the status line parsed,
    the rows copied. In autocommit it has no transaction to begin, so asyncpg is asked
    directly, and prepares the statement in its own cache. The listeners see the statement
    as from a cursor (with none), and a driver error leaves as the adapter's DBAPI error,
    handled by the Connection as any other. A statement's first run takes the cursor, which
    describes its rows (``_Compiled.converter``).
    """
    sql = compiled.sql
    try:
        sql, parameters = _before(connection, None, sql, parameters, compiled)
        try:
            found = await_only(getattr(pooled.driver_connection, read)(sql, *parameters))
        except Exception as error:
            # raises it as the adapter's DBAPI error, as its cursor does
            pooled.dbapi_connection._handle_exception(error)  # type: ignore[union-attr]
        _after(connection, None, sql, parameters, compiled)
    except BaseException as error:
        connection._handle_dbapi_exception(error, sql, parameters, None, None)
    convert = compiled.converter(None)
    if convert is None or found is None:
        return found
    return convert(found) if read == "fetchrow" else [convert(row) for row in found]


def _before(
    connection: Connection,
    cursor: DBAPICursor | None,
    sql: str,
    parameters: Any,
    compiled: _Compiled,
) -> tuple[str, Any]:
    """The engine's ``before_cursor_execute`` listeners, which may change SQL and parameters."""
    if connection._has_events or connection.engine._has_events:
        for before in connection.dispatch.before_cursor_execute:
            sql, parameters = before(connection, cursor, sql, parameters, compiled.execution, False)
    return sql, parameters


def _after(
    connection: Connection,
    cursor: DBAPICursor | None,
    sql: str,
    parameters: Any,
    compiled: _Compiled,
) -> None:
    if connection._has_events or connection.engine._has_events:
        for after in connection.dispatch.after_cursor_execute:
            after(connection, cursor, sql, parameters, compiled.execution, False)


def _all_rows(cursor: DBAPICursor, compiled: _Compiled) -> list[Row]:
    rows: list[Row] = cursor.fetchall()  # type: ignore[assignment]  # tuples: the DBAPI's rows
    convert = compiled.converter(cursor)
    return rows if convert is None else [convert(row) for row in rows]


def _first_row(cursor: DBAPICursor, compiled: _Compiled) -> Row | None:
    row: Row | None = cursor.fetchone()
    convert = compiled.converter(cursor)
    return row if row is None or convert is None else convert(row)


def _row_count(cursor: DBAPICursor, _compiled: _Compiled) -> int:
    count: int = cursor.rowcount
    return count


# The reads asyncpg can send itself: its connection's method for each.
_ASYNCPG_READS: dict[Callable[..., Any], str] = {_all_rows: "fetch", _first_row: "fetchrow"}
