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


class LoginAttempts(Protocol):
    """Counts attempts to log in to an account, keyed by the email asked for (known or
    not, so the limit tells nobody which emails have accounts), to stop password guessing."""

    def admit(self, account: str) -> int | None:
        """Count an attempt on ``account``: ``None`` if it may go on, or the seconds until
        one may, when the account has had its limit of attempts in the window."""
        ...

    def succeeded(self, account: str) -> None:
        """The attempt was right: neither it nor the account's earlier failures count."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
