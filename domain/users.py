"""The user aggregate: a registered account, its value rules and its repository."""

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from domain import messages, validation
from domain.errors import ValidationFailed

USERNAME_MAX = 64
EMAIL_MAX = 254
PASSWORD_MAX = 256
BIO_MAX = 2000
IMAGE_MAX = 2048

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is not our rule.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_USERNAME = re.compile(USERNAME_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)


def normalize_email(email: str) -> str:
    """Emails are compared and stored trimmed, case-folded and NFC-normalised.

    ``" A@B.io"`` is ``"a@b.io"``; "René" written with a combining accent is the same as with
    "é" as one character, and as "RENÉ". Case folding (not only lower-casing) makes "ß" and
    "ss" one, as Unicode's caseless matching does.
    """
    email = validation.text(email, "email", max_length=EMAIL_MAX + 64).strip()
    email = unicodedata.normalize("NFC", unicodedata.normalize("NFC", email).casefold())
    if len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        raise ValidationFailed(messages.EMAIL_INVALID)
    return email


def check_username(username: str) -> str:
    """Usernames are 1..64 characters of letters, digits, ``_``, ``.`` and ``-``; case kept."""
    validation.text(username, "username", max_length=USERNAME_MAX)
    if not _USERNAME.fullmatch(username):
        raise ValidationFailed(messages.USERNAME_CHARACTERS)
    return username


def username_key(username: str) -> str:
    """The form usernames are compared in: ``alice``, ``Alice`` and ``ALICE`` are one username.

    Usernames are ASCII, so only ASCII letters are folded (as the databases' ``lower()`` on
    the stored names does); a name with anything else in it matches no stored name.
    """
    return username.lower() if username.isascii() else username


def check_password(password: str) -> str:
    """A new password must not be empty; the upper bound keeps hashing cost bounded."""
    return validation.text(password, "password", max_length=PASSWORD_MAX)


def check_bio(bio: str) -> str:
    return validation.text(bio, "bio", max_length=BIO_MAX, allow_empty=True)


def check_image(image: str) -> str:
    return validation.text(image, "image", max_length=IMAGE_MAX, allow_empty=True)


@dataclass(eq=False)
class User:
    """A registered account. ``password_hash`` is whatever the hasher port produced."""

    username: str
    email: str
    password_hash: str
    bio: str = ""
    image: str = ""
    id: int | None = None
    # The account's session generation: tokens carry it, and only the current one counts.
    token_generation: int = 0

    @classmethod
    def register(cls, *, username: str, email: str, password_hash: str) -> "User":
        return cls(
            username=check_username(username),
            email=normalize_email(email),
            password_hash=password_hash,
        )

    def change_password(self, password_hash: str) -> None:
        """A new password ends every session signed in before it (a stolen token with it)."""
        self.password_hash = password_hash
        self.token_generation += 1


class UserRepository(Protocol):
    """Users and who follows whom. Implementations flush, never commit."""

    def add(self, user: User) -> None: ...

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        """``for_update`` locks the user until the unit of work ends: password changes, which
        start the next session generation from the stored one, then run one after the other."""
        ...

    def save(self, user: User) -> None:
        """Write the changes made to a loaded user now, so reads in this unit see them."""
        ...

    def exists(self, user_id: int, token_generation: int) -> bool:
        """Whether the user is stored and still in this session generation: cheaper than
        ``get`` where the user is not needed."""
        ...

    def get_by_email(self, email: str) -> User | None:
        """By the email as ``normalize_email`` gives it."""
        ...

    def get_by_username(self, username: str) -> User | None:
        """By the username in any case (see ``username_key``)."""
        ...

    def follow(self, follower_id: int, followee_id: int) -> None:
        """Idempotent: following twice leaves one follow."""
        ...

    def unfollow(self, follower_id: int, followee_id: int) -> None:
        """Idempotent: unfollowing someone not followed changes nothing."""
        ...
