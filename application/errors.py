"""Errors of the application layer that are not rules of the domain, in the one hierarchy
(``domain.errors.ConduitError``)."""

from domain.errors import ConduitError


class NotAuthenticated(ConduitError):
    """No valid token: missing, malformed, expired, or for a user that no longer exists."""


class TemporarilyUnavailable(ConduitError):
    """The database cannot serve now (pool exhausted, unreachable, timed out). Retry later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConcurrentUpdate(TemporarilyUnavailable):
    """Another transaction changed the same data at the same time; retrying may succeed.

    Write use cases run again on it (``application.retry``) and end in the parent's 503 if
    they keep losing; one that escapes elsewhere is a 503 too: the client's retry may win.
    """


class TooManyAttempts(ConduitError):
    """Too many attempts (failed logins on one account) in a while: refused without trying."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
