"""Errors the domain and the use cases raise; the HTTP layer maps each kind to a status once."""


class DomainError(Exception):
    """Base class: a rule of the domain was not met. ``messages`` are shown to the client."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages: tuple[str, ...] = messages


class ValidationFailed(DomainError):
    """A value breaks a rule of the domain (a malformed email, a title that is too long, ...)."""


class NotFound(DomainError):
    """The thing asked for does not exist."""


class AlreadyExists(DomainError):
    """A unique value (email, username, slug) is taken."""


class InvalidCredentials(DomainError):
    """Email and password do not match; the same error whether the email exists or not."""


class Forbidden(DomainError):
    """The caller may not do this (edit someone else's article, follow themselves)."""
