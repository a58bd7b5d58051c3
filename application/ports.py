"""What the use cases need from the outside world, as small interfaces."""

from datetime import UTC, datetime
from typing import Protocol

from application.caller import Caller


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True if ``password`` matches; never raises for a wrong password."""
        ...


class TokenService(Protocol):
    def issue(self, caller: Caller) -> str:
        """A signed token for the account and session generation of ``caller``."""
        ...

    def verify(self, token: str) -> Caller:
        """Who the token was issued for; raises ``NotAuthenticated`` if it is not valid.

        Whether that account still exists in that generation is the use case's check."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
