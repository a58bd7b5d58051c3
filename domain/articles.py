"""The article aggregate: an article with its tags, its slug rule and its repository.

Favorites belong to the article aggregate too: the repository adds or removes a favorite
and moves ``favorites_count`` in the same unit of work (one statement where the database
allows), so the count is always the number of favorite rows.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from domain import messages, validation
from domain.errors import ValidationFailed

TITLE_MAX = 256
DESCRIPTION_MAX = 1024
BODY_MAX = 100_000
TAG_MAX = 64
TAGS_PER_ARTICLE_MAX = 20
SLUG_MAX = 300  # slugified title (at most TITLE_MAX) + "-" + a short suffix
# Slugs whose path is something else's: /articles/feed is the feed, so an article there could
# be changed and deleted but never read. Such a title's slug gets a suffix, as a taken one.
RESERVED_SLUGS = frozenset({"feed"})


def slugify(title: str) -> str:
    """``"How to train your Dragon!"`` -> ``"how-to-train-your-dragon"``; never empty."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:TITLE_MAX].rstrip("-") or "article"


def check_title(title: str) -> str:
    return validation.text(title, "title", max_length=TITLE_MAX)


def check_description(description: str) -> str:
    return validation.text(description, "description", max_length=DESCRIPTION_MAX)


def check_body(body: str) -> str:
    return validation.text(body, "body", max_length=BODY_MAX)


def normalize_tags(names: list[str]) -> list[str]:
    """Trimmed, deduplicated, in alphabetical order; blank tags are dropped."""
    cleaned = {
        validation.text(n, "tag", max_length=TAG_MAX, allow_empty=True).strip() for n in names
    }
    cleaned.discard("")
    if len(cleaned) > TAGS_PER_ARTICLE_MAX:
        raise ValidationFailed(messages.too_many_tags(TAGS_PER_ARTICLE_MAX))
    return sorted(cleaned)


@dataclass(eq=False)
class Tag:
    """A tag name, stored once however many articles carry it."""

    name: str
    id: int | None = None


@dataclass(eq=False)
class Article:
    """An article. Only its author may change or delete it."""

    slug: str
    title: str
    description: str
    body: str
    author_id: int
    created_at: datetime
    updated_at: datetime
    tags: list[Tag] = field(default_factory=list)
    favorites_count: int = 0
    id: int | None = None

    @classmethod
    def write(
        cls,
        *,
        author_id: int,
        slug: str,
        title: str,
        description: str,
        body: str,
        tag_names: list[str],
        now: datetime,
    ) -> "Article":
        return cls(
            slug=slug,
            title=check_title(title),
            description=check_description(description),
            body=check_body(body),
            author_id=author_id,
            created_at=now,
            updated_at=now,
            tags=[Tag(name) for name in normalize_tags(tag_names)],
        )

    def is_written_by(self, user_id: int) -> bool:
        return self.author_id == user_id


class ArticleRepository(Protocol):
    """Articles, their tags and favorites. Implementations flush, never commit."""

    def add(self, article: Article) -> bool:
        """Store a new article and give it its id; its tags are matched by name with the
        tags already stored (new names are stored). False if its slug is taken (perhaps by
        a concurrent writer a moment ago): then no article is stored."""
        ...

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Article | None:
        """The article, without its tags loaded (they are not needed to change it).

        ``for_update`` locks it until the unit of work ends: concurrent edits of one
        article then run one after the other, each on the other's result.
        """
        ...

    def slug_exists(self, slug: str) -> bool: ...

    def save(self, article: Article) -> None:
        """Write the changes made to a loaded article now, so reads in this unit see them."""
        ...

    def remove(self, article: Article) -> None:
        """Delete the article with its tags links, comments and favorites."""
        ...

    def add_favorite(self, slug: str, user_id: int) -> int | None:
        """Favorite the article of this slug once: its ``favorites_count`` after this call
        added the favorite, or None if it added none (a favorite already, or no such
        article). The count follows the rows."""
        ...

    def remove_favorite(self, slug: str, user_id: int) -> int | None:
        """Unfavorite: the ``favorites_count`` after this call removed the favorite, or
        None if it removed none."""
        ...
