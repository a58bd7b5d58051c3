"""Small value checks shared by the entities.

Strings are checked here, before any database sees them: PostgreSQL rejects NUL bytes and
over-long values that SQLite would store silently, so the rule must not depend on the database.
"""

from domain import messages
from domain.errors import ValidationFailed


def text(value: str, field: str, *, max_length: int, allow_empty: bool = False) -> str:
    """Return ``value`` if it is a string of at most ``max_length`` characters without NUL."""
    if not isinstance(value, str):
        raise ValidationFailed(messages.not_a_string(field))
    if "\x00" in value:
        raise ValidationFailed(messages.contains_nul(field))
    if not allow_empty and not value.strip():
        raise ValidationFailed(messages.blank(field))
    if len(value) > max_length:
        raise ValidationFailed(messages.too_long(field, max_length))
    return value
