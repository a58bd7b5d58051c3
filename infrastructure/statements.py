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

Only the DBAPI interface is used (``cursor()``, the dialect's ``do_execute``,
``fetchall``, ``description``, ``rowcount``), with the dialect's own paramstyle, so the same
statements run on psycopg, pysqlite and SQLAlchemy's asyncpg adapter. (The engine's
``echo`` log does not show them; the statement counter's record does.)
"""

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import BindTyping, DBAPICursor
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

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

    def converter(self, cursor: DBAPICursor) -> Callable[[Row], Row] | None:
        """What each row needs before the caller sees it (None: nothing), from the result
        types' processors for the column types the driver describes (known at the first
        execution; the same for every later one)."""
        if self._described:
            return self._convert
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
        dbapi_connection = connection.connection  # SQLAlchemy's: fails if invalidated
        cursor: DBAPICursor | None = None
        try:
            cursor = dbapi_connection.cursor()
            listened = connection._has_events or connection.engine._has_events
            if listened:
                for before in connection.dispatch.before_cursor_execute:
                    sql, driver_parameters = before(
                        connection, cursor, sql, driver_parameters, compiled.execution, False
                    )
            compiled.dialect.do_execute(cursor, sql, driver_parameters, None)
            if listened:
                for after in connection.dispatch.after_cursor_execute:
                    after(connection, cursor, sql, driver_parameters, compiled.execution, False)
            result = fetch(cursor, compiled)
        except BaseException as error:
            # Wraps it as DBAPIError, runs the handle_error listeners, and invalidates the
            # connection (in the pool too) when the driver says it is gone; always raises.
            connection._handle_dbapi_exception(error, sql, driver_parameters, cursor, None)
        cursor.close()
        return result


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
