"""Who is acting: the account a verified token names, in the session generation it names."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of a use case, as the api layer read it from a verified token.

    ``token_generation`` is the account's session generation when the token was issued; a
    password change moves the account on to the next one, so the tokens of every earlier
    generation stop counting. Use cases that act for a caller take a ``Caller`` (never a
    bare user id) and check both, in the statement that already checks the account
    (``application.lookups.require_user`` / ``require_account``).
    """

    user_id: int
    token_generation: int
