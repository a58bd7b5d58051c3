"""Comments on articles, and their repository."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain import validation

COMMENT_MAX = 10_000


def check_comment_body(body: str) -> str:
    return validation.text(body, "body", max_length=COMMENT_MAX)


@dataclass(eq=False)
class Comment:
    """A comment; only its author may delete it."""

    article_id: int
    author_id: int
    body: str
    created_at: datetime
    updated_at: datetime
    id: int | None = None

    @classmethod
    def write(cls, *, article_id: int, author_id: int, body: str, now: datetime) -> "Comment":
        return cls(
            article_id=article_id,
            author_id=author_id,
            body=check_comment_body(body),
            created_at=now,
            updated_at=now,
        )

    def is_written_by(self, user_id: int) -> bool:
        return self.author_id == user_id


class CommentRepository(Protocol):
    """Comments. Implementations flush, never commit."""

    def add(self, comment: Comment) -> None: ...

    def get(self, comment_id: int) -> Comment | None: ...

    def remove(self, comment: Comment) -> None:
        """Delete the comment now."""
        ...
