"""A read model declared once as columns: the SELECT list and the row reader both come from it.

    _PROFILE = Projection(
        ProfileView,
        username=users.c.username,
        following=Converted(_following(...), bool),
        ...
    )
    select(*_PROFILE.columns, ...)   # its columns first, anything else after them
    _PROFILE.read(row)               # -> ProfileView

Every field of the read model (a dataclass) is declared, as a column, a column with a
conversion, or a nested projection (an article's author); a field left out or unknown fails
at import. The reader is generated code that unpacks the row by position and calls the
constructors, as a hand-written one would: read by name, a row is about ten times slower,
and a page has 20 rows of 14 columns.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar, cast

from sqlalchemy import ColumnElement, Label


class Converted(NamedTuple):
    """A column whose value is converted before it goes into the read model."""

    column: ColumnElement[Any]
    convert: Callable[[Any], Any]


T = TypeVar("T")


class Projection(Generic[T]):
    """The columns of read model ``model`` and the reader of rows that start with them."""

    def __init__(
        self, model: type[T], /, **fields: "ColumnElement[Any] | Converted | Projection[Any]"
    ) -> None:
        # The ignore: read models are dataclasses, but T cannot be bound to typeshed's
        # DataclassInstance (a private, type-checking-only name).
        declared = [field.name for field in dataclasses.fields(model)]  # type: ignore[arg-type]
        if sorted(fields) != sorted(declared):
            raise TypeError(
                f"{model.__name__}: declare exactly its fields {declared}, not {sorted(fields)}"
            )
        self.model = model
        self._fields = fields
        columns: list[Label[Any]] = []
        names: dict[str, object] = {}
        expression = self._expression("", columns, names)
        values = "".join(f"v{n}, " for n in range(len(columns)))
        source = f"def read(row):\n    {values}*_ = row\n    return {expression}\n"
        # Safe to run: the source holds only the model's field names and counters.
        exec(source, names)
        self.columns: tuple[Label[Any], ...] = tuple(columns)
        # Rows as the driver gives them (infrastructure/statements.py): values by position.
        self.read = cast(Callable[[Sequence[Any]], T], names["read"])  # made once, at import

    def position(self, name: str) -> int:
        """Where the column of field ``name`` (not a nested projection's) is in a row."""
        return [column.name for column in self.columns].index(name)

    def _expression(self, prefix: str, columns: list[Label[Any]], names: dict[str, object]) -> str:
        """The constructor call of this projection's model, over the row's values ``v0``..."""
        model = f"m{len(names)}"
        names[model] = self.model
        arguments = []
        for name, field in self._fields.items():
            if isinstance(field, Projection):
                value = field._expression(f"{prefix}{name}_", columns, names)
            elif isinstance(field, Converted):
                convert = f"c{len(names)}"
                names[convert] = field.convert
                value = f"{convert}(v{len(columns)})"
                columns.append(field.column.label(f"{prefix}{name}"))
            else:
                value = f"v{len(columns)}"
                columns.append(field.label(f"{prefix}{name}"))
            arguments.append(f"{name}={value}")
        return f"{model}({', '.join(arguments)})"
