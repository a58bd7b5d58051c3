"""Small value checks shared by the entities.

Strings are checked here, before any database sees them: PostgreSQL rejects NUL bytes and
over-long values that SQLite would store silently, so the rule must not depend on the database.
"""

from domain.errors import ValidationFailed


def text(value: str, field: str, *, max_length: int, allow_empty: bool = False) -> str:
    """Return ``value`` if it is a string of at most ``max_length`` characters without NUL."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string")
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters")
    if not allow_empty and not value.strip():
        raise ValidationFailed(f"{field} can't be blank")
    if len(value) > max_length:
        raise ValidationFailed(f"{field} is too long (maximum is {max_length} characters)")
    return value
