"""The one hierarchy of errors a client is told about; ``api.errors`` maps each kind to a
status once.

The domain's kinds are here; the application adds its own (``application.errors``) under
the same base. Their words come from ``domain.messages``.
"""


class ConduitError(Exception):
    """Base class: the request cannot be served as asked. ``messages`` are shown to the
    client; ``retry_after`` (seconds), where set, says when trying again may succeed."""

    retry_after: int | None = None

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages: tuple[str, ...] = messages


class ValidationFailed(ConduitError):
    """A value breaks a rule of the domain (a malformed email, a title that is too long, ...)."""


class NotFound(ConduitError):
    """The thing asked for does not exist."""


class AlreadyExists(ConduitError):
    """A unique value (email, username, slug) is taken."""


class InvalidCredentials(ConduitError):
    """Email and password do not match; the same error whether the email exists or not."""


class Forbidden(ConduitError):
    """The caller may not do this (edit someone else's article, follow themselves)."""
