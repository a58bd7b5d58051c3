"""A projection: one declaration of a read model's columns gives the SELECT list and the reader."""

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, literal, select

from infrastructure.projection import Converted, Projection


@dataclass(frozen=True)
class Inner:
    name: str
    flag: bool


@dataclass(frozen=True)
class Outer:
    title: str
    count: int
    inner: Inner


def _projection() -> Projection[Outer]:
    return Projection(
        Outer,
        inner=Projection(Inner, flag=Converted(literal(1), bool), name=literal("n")),
        count=literal(7),
        title=Converted(literal("t"), str.upper),
    )


def test_its_columns_are_labelled_by_field_and_read_back_into_the_nested_models() -> None:
    projection = _projection()
    assert [c.name for c in projection.columns] == ["inner_flag", "inner_name", "count", "title"]
    with create_engine("sqlite://").connect() as connection:
        row = connection.execute(select(*projection.columns, literal("extra"))).one()
    assert projection.read(row) == Outer(title="T", count=7, inner=Inner(name="n", flag=True))


@pytest.mark.parametrize(
    "fields",
    [
        {"title": literal("t"), "count": literal(1)},
        {"title": literal("t"), "count": literal(1), "inner": literal(1), "x": literal(2)},
    ],
    ids=["a field left out", "an unknown field"],
)
def test_a_declaration_that_is_not_exactly_the_models_fields_is_refused(
    fields: dict[str, Any],
) -> None:
    with pytest.raises(TypeError, match="declare exactly its fields"):
        Projection(Outer, **fields)
