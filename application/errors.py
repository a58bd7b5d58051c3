"""Errors of the application layer that are not rules of the domain."""


class NotAuthenticated(Exception):
    """No valid token: missing, malformed, expired, or for a user that no longer exists."""


class TemporarilyUnavailable(Exception):
    """The database cannot serve now (pool exhausted, unreachable, timed out). Retry later."""

    def __init__(self, reason: str, retry_after: int = 1) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class ConcurrentUpdate(Exception):
    """Another transaction changed the same data at the same time; retrying may succeed."""


class TooManyAttempts(Exception):
    """Too many attempts (failed logins on one account) in a while: refused without trying."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
