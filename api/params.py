"""Path and query parameters, checked before any use case runs.

A NUL character can be in no stored value; PostgreSQL refuses it even in a search, SQLite
would quietly find nothing. Refusing it here gives one clear 422 on both.
"""

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

from api.schemas import NO_NUL
from application.read_models import MAX_PAGE_SIZE
from domain import messages
from domain.articles import SLUG_MAX
from domain.users import USERNAME_MAX


def _without_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError(messages.PARAMETER_CONTAINS_NUL)
    return value


_NoNul = AfterValidator(_without_nul)

_STATED = {"pattern": NO_NUL}  # the rule, as the document states it

Slug = Annotated[str, Path(max_length=SLUG_MAX, json_schema_extra=_STATED), _NoNul]
Username = Annotated[str, Path(max_length=USERNAME_MAX, json_schema_extra=_STATED), _NoNul]
SearchTerm = Annotated[str | None, Query(max_length=256, json_schema_extra=_STATED), _NoNul]
# A page of a list: ``limit: Limit = DEFAULT_PAGE_SIZE, offset: Offset = 0``.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="articles to skip")]
