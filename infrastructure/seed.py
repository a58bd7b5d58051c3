"""Realistic demo and benchmark data, written with bulk SQL (``conduit seed``).

Every row is an entity the domain's own constructors made (``User.register``,
``Article.write``, ``Comment.write``: the same rules as the API's), then goes in with
SQLAlchemy Core, many rows per ``INSERT ... VALUES`` statement: no HTTP, no ORM unit of
work, which would cost a statement per row. The whole seed
is one transaction, so a failure leaves the database as it was; afterwards the tables are
analysed (and, on PostgreSQL, vacuumed) as autovacuum would do in time.

What is seeded, for a given ``SeedPlan`` (the same ``seed`` gives the same data, except the
password hash, whose salt is random):

- users ``user0`` .. ``user<N-1>``, emails ``user<i>@example.com``, all with the password
  ``SEED_PASSWORD`` (``"password"``), hashed once and the hash reused for every user;
- ``follows_per_user`` distinct follows per user;
- a pool of ``tags`` tags; each article has 0..5 of them, popular tags more often;
- articles by random authors (a few prolific ones), ``created_at`` spread over the year
  before ``SEED_UNTIL``; slugs are the title's slug plus the article's number;
- ``favorites`` distinct (user, article) favorites in total, ``articles.favorites_count``
  equal to the favorite rows of each article;
- ``comments`` comments in total, each written after its article.
"""

import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, Table, func, insert, select, text

from application.ports import PasswordHasher
from domain.articles import TITLE_MAX, Article, Tag, normalize_tags, slugify
from domain.comments import Comment
from domain.users import User, check_bio, check_image
from infrastructure.backend import Backend, backend_of
from infrastructure.orm import (
    article_tags,
    articles,
    comments,
    empty_tables,
    favorites,
    follows,
    metadata,
    tags,
    users,
)

SEED_PASSWORD = "password"
# Timestamps end here rather than at "now", so one seed gives the same rows on every run.
SEED_UNTIL = datetime(2026, 1, 1, tzinfo=UTC)
SEED_SPAN = timedelta(days=365)
MAX_TAGS_PER_ARTICLE = 5

# Bind parameters per statement stay well below SQLite's (32766) and PostgreSQL's (65535)
# limits; a thousand rows per statement is where bigger batches stop paying.
_MAX_PARAMS = 30_000
_MAX_ROWS = 1_000

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as rows are written."""


def username(index: int) -> str:
    return f"user{index}"


def email(index: int) -> str:
    return f"user{index}@example.com"


class SeedError(Exception):
    """The plan cannot be seeded (impossible numbers, or a database that is not empty)."""


@dataclass(frozen=True, slots=True)
class SeedPlan:
    users: int = 200
    articles: int = 2000
    tags: int = 30
    follows_per_user: int = 10
    favorites: int = 5000
    comments: int = 3000
    seed: int = 0

    def check(self) -> None:
        for name in ("users", "articles", "tags", "follows_per_user", "favorites", "comments"):
            if getattr(self, name) < 0:
                raise SeedError(f"{name} must not be negative")
        if self.articles and not self.users:
            raise SeedError("articles need authors: seed at least one user")
        if self.follows_per_user > max(self.users - 1, 0):
            raise SeedError(
                f"each user can follow at most {max(self.users - 1, 0)} others "
                f"(asked for {self.follows_per_user})"
            )
        if self.favorites > self.users * self.articles:
            raise SeedError(
                f"at most users x articles = {self.users * self.articles} distinct favorites "
                f"(asked for {self.favorites})"
            )
        if self.comments and not self.articles:
            raise SeedError("comments need articles: seed at least one article")


@dataclass(frozen=True, slots=True)
class SeedReport:
    rows: dict[str, int]
    seconds: float


def seed_database(
    engine: Engine,
    plan: SeedPlan,
    hasher: PasswordHasher,
    *,
    reset: bool = False,
    password: str = SEED_PASSWORD,
    progress: Progress | None = None,
) -> SeedReport:
    """Write ``plan``'s data into ``engine``'s database, all in one transaction.

    The database must be migrated. Unless ``reset`` is true it must also be empty (no
    users, articles or tags): seeded rows next to real ones would be neither. With
    ``reset`` every table is emptied first, in the same transaction.
    """
    plan.check()
    started = time.perf_counter()
    report = progress or _silent
    data = _generate(plan)
    password_hash = hasher.hash(password)
    with engine.begin() as connection:
        if reset:
            empty_tables(connection)
        else:
            _refuse_if_not_empty(connection)

        seeded_users = [
            _user(index, bio, image, password_hash)
            for index, (bio, image) in enumerate(data.profiles)
        ]
        _insert(connection, users, [_row(users, user) for user in seeded_users], report)
        user_ids = _ids(connection, users.c.username, [user.username for user in seeded_users])

        _insert(
            connection,
            follows,
            [
                {"follower_id": user_ids[follower], "followee_id": user_ids[followee]}
                for follower, followee in data.follows
            ],
            report,
        )

        tag_pool = [Tag(normalize_tags([name])[0]) for name in data.tag_names]
        _insert(connection, tags, [_row(tags, tag) for tag in tag_pool], report)
        tag_ids = dict(
            zip(data.tag_names, _ids(connection, tags.c.name, data.tag_names), strict=True)
        )

        favorite_counts = Counter(article for _user, article in data.favorites)
        seeded_articles = [
            _article(draft, user_ids[draft.author], data.tag_names, favorite_counts[index])
            for index, draft in enumerate(data.articles)
        ]
        _insert(connection, articles, [_row(articles, a) for a in seeded_articles], report)
        article_ids = _ids(connection, articles.c.slug, [a.slug for a in seeded_articles])

        _insert(
            connection,
            article_tags,
            [
                {"article_id": article_ids[index], "tag_id": tag_ids[tag.name]}
                for index, article in enumerate(seeded_articles)
                for tag in article.tags
            ],
            report,
        )
        _insert(
            connection,
            favorites,
            [
                {"user_id": user_ids[user], "article_id": article_ids[article]}
                for user, article in data.favorites
            ],
            report,
        )
        seeded_comments = [
            Comment.write(
                article_id=article_ids[article],
                author_id=user_ids[author],
                body=body,
                now=created_at,
            )
            for article, author, body, created_at in data.comments
        ]
        _insert(connection, comments, [_row(comments, c) for c in seeded_comments], report)
        rows = {
            table.name: connection.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
        }
    _tidy(engine)
    return SeedReport(rows=rows, seconds=time.perf_counter() - started)


def _tidy(engine: Engine) -> None:
    """Statistics for the planner, and (PostgreSQL) a visibility map, as autovacuum would.

    Without them the first minutes after a seed run on default estimates and the heap
    instead of index-only scans, which is not what a database in service looks like.
    """
    with engine.connect() as connection:
        if backend_of(connection) is Backend.POSTGRESQL:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(
                text("SET statement_timeout = 0")
            )  # VACUUM outlasts 5 s on big seeds
            names = ", ".join(table.name for table in metadata.sorted_tables)
            connection.execute(text(f"VACUUM (ANALYZE) {names}"))
        else:
            connection.execute(text("ANALYZE"))
            connection.commit()


class StderrProgress:
    """A one-line progress bar per stage, redrawn in place with a carriage return."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.stream.isatty() and done < total:
            return  # a log file gets one line per stage, not every redraw
        if stage != self._stage and self._stage is not None:
            self.stream.write("\n")
        self._stage = stage
        filled = self.width * done // total if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{stage:<13} [{bar}] {done:>7}/{total}")
        self.stream.flush()

    def close(self) -> None:
        if self._stage is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._stage = None


# -- writing ---------------------------------------------------------------------------------


def _silent(_stage: str, _done: int, _total: int) -> None:
    pass


def _user(index: int, bio: str, image: str, password_hash: str) -> User:
    """A user as registration makes one, with the profile an update would give it."""
    user = User.register(username=username(index), email=email(index), password_hash=password_hash)
    user.bio = check_bio(bio)
    user.image = check_image(image)
    return user


def _article(
    draft: "_ArticleDraft", author_id: int, tag_pool: list[str], favorites_count: int
) -> Article:
    """An article as writing one makes it; edited later if the draft says so. Its
    ``favorites_count`` is the number of favorite rows the seed writes for it."""
    article = Article.write(
        author_id=author_id,
        slug=draft.slug,
        title=draft.title,
        description=draft.description,
        body=draft.body,
        tag_names=[tag_pool[tag] for tag in draft.tags],
        now=draft.created_at,
    )
    article.updated_at = draft.updated_at
    article.favorites_count = favorites_count
    return article


def _row(table: Table, entity: object) -> dict[str, Any]:
    """An entity's attributes as ``table``'s row: the columns are the attributes the mapping
    (:func:`infrastructure.orm.map_entities`) maps them onto; the id is the database's."""
    return {
        column.name: getattr(entity, column.name) for column in table.columns if column.name != "id"
    }


def _refuse_if_not_empty(connection: Connection) -> None:
    for table in (users, articles, tags):
        if connection.scalar(select(func.count()).select_from(table)):
            raise SeedError(
                f"the database already has {table.name}; "
                "seed an empty database, or pass --reset to empty it first"
            )


def _insert(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], progress: Progress
) -> None:
    """Multi-row ``INSERT ... VALUES (...), (...), ...`` statements, a chunk at a time."""
    total = len(rows)
    progress(table.name, 0, total)
    if not rows:
        return
    chunk = max(1, min(_MAX_ROWS, _MAX_PARAMS // len(rows[0])))
    for start in range(0, total, chunk):
        connection.execute(insert(table).values(list(rows[start : start + chunk])))
        progress(table.name, min(start + chunk, total), total)


def _ids(connection: Connection, key: Any, values: Sequence[str]) -> list[int]:
    """The ids of the rows just inserted, in the order of ``values`` (their unique keys)."""
    table = key.table
    rows = connection.execute(select(key, table.c.id).where(key.in_(values)))
    by_key = {value: row_id for value, row_id in rows}
    return [by_key[value] for value in values]


# -- generating ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ArticleDraft:
    slug: str
    title: str
    description: str
    body: str
    author: int  # user index
    tags: tuple[int, ...]  # tag indexes
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _Data:
    profiles: list[tuple[str, str]]  # (bio, image) per user index
    follows: list[tuple[int, int]]  # (follower, followee) user indexes
    tag_names: list[str]
    articles: list[_ArticleDraft]
    favorites: list[tuple[int, int]]  # (user, article) indexes
    comments: list[tuple[int, int, str, datetime]]  # (article, author, body, created_at)


def _generate(plan: SeedPlan) -> _Data:
    """Every row, by index, from one ``random.Random(plan.seed)``: same seed, same data."""
    rng = random.Random(plan.seed)
    profiles = [_profile(rng, index) for index in range(plan.users)]

    follow_pairs: list[tuple[int, int]] = []
    for follower in range(plan.users):
        others = rng.sample(range(plan.users - 1), plan.follows_per_user)
        # Skip over the follower itself: indexes >= follower are shifted up by one.
        follow_pairs.extend((follower, o + 1 if o >= follower else o) for o in others)

    tag_names = _tag_names(plan.tags)
    # Zipf-like popularity: the first tags of the pool are on many articles, the last on few.
    tag_weights = [1 / (rank + 1) for rank in range(plan.tags)]
    author_weights = [1 / math.sqrt(rank + 1) for rank in range(plan.users)]
    rng.shuffle(author_weights)

    start = SEED_UNTIL - SEED_SPAN
    moments = sorted(
        start + timedelta(seconds=rng.uniform(0, SEED_SPAN.total_seconds()))
        for _ in range(plan.articles)
    )
    drafts = []
    for index, created_at in enumerate(moments):
        title = _sentence(rng, 3, 9, end="")[: TITLE_MAX - 10]
        edited = rng.random() < 0.2
        updated_at = (
            min(created_at + timedelta(hours=rng.uniform(1, 24 * 30)), SEED_UNTIL)
            if edited
            else created_at
        )
        drafts.append(
            _ArticleDraft(
                slug=f"{slugify(title)}-{index}",
                title=title,
                description=_sentence(rng, 6, 16),
                body=_body(rng),
                author=rng.choices(range(plan.users), author_weights)[0],
                tags=_pick_tags(rng, tag_weights),
                created_at=created_at,
                updated_at=updated_at,
            )
        )

    favorite_pairs = [
        divmod(cell, plan.articles)
        for cell in rng.sample(range(plan.users * plan.articles), plan.favorites)
    ]

    comment_rows = []
    for _ in range(plan.comments):
        article = rng.randrange(plan.articles)
        after = drafts[article].created_at
        created_at = after + (SEED_UNTIL - after) * rng.random()
        author = rng.randrange(plan.users)
        comment_rows.append((article, author, _paragraph(rng, 1, 4), created_at))

    return _Data(
        profiles=profiles,
        follows=follow_pairs,
        tag_names=tag_names,
        articles=drafts,
        favorites=favorite_pairs,
        comments=comment_rows,
    )


def _profile(rng: random.Random, index: int) -> tuple[str, str]:
    bio = _sentence(rng, 5, 20) if rng.random() < 0.6 else ""
    image = f"https://i.pravatar.cc/150?u={username(index)}" if rng.random() < 0.5 else ""
    return bio, image


def _tag_names(count: int) -> list[str]:
    names = list(_TAGS[:count])
    generation = 2
    while len(names) < count:
        names.extend(f"{tag}-{generation}" for tag in _TAGS[: count - len(names)])
        generation += 1
    return names


def _pick_tags(rng: random.Random, weights: list[float]) -> tuple[int, ...]:
    wanted = min(rng.randint(0, MAX_TAGS_PER_ARTICLE), len(weights))
    picked: set[int] = set()
    while len(picked) < wanted:
        picked.add(rng.choices(range(len(weights)), weights)[0])
    return tuple(sorted(picked))


def _sentence(rng: random.Random, shortest: int, longest: int, end: str = ".") -> str:
    words = rng.choices(_WORDS, k=rng.randint(shortest, longest))
    return " ".join(words).capitalize() + end


def _paragraph(rng: random.Random, shortest: int, longest: int) -> str:
    return " ".join(_sentence(rng, 5, 18) for _ in range(rng.randint(shortest, longest)))


def _body(rng: random.Random) -> str:
    """A short markdown article: a few paragraphs, sometimes a heading or a list."""
    parts = []
    for _ in range(rng.randint(2, 6)):
        shape = rng.random()
        if shape < 0.15:
            parts.append("## " + _sentence(rng, 2, 5, end=""))
        elif shape < 0.25:
            parts.append("\n".join("- " + _sentence(rng, 3, 8) for _ in range(rng.randint(2, 4))))
        parts.append(_paragraph(rng, 2, 5))
    return "\n\n".join(parts)


_TAGS = (
    "programming", "python", "javascript", "databases", "postgresql", "devops", "testing",
    "architecture", "performance", "security", "web", "api", "rust", "go", "cloud",
    "kubernetes", "career", "design", "frontend", "backend", "sql", "linux", "opensource",
    "productivity", "machinelearning", "data", "mobile", "react", "typescript", "tutorial",
    "beginners", "news", "discuss", "showcase", "books", "startup", "management", "ux",
    "accessibility", "networking",
)  # fmt: skip

_WORDS = (
    "the", "a", "of", "and", "to", "in", "is", "it", "that", "we", "for", "on", "with", "as",
    "you", "this", "be", "at", "by", "not", "are", "from", "or", "have", "an", "they",
    "which", "one", "all", "their", "there", "can", "when", "what", "about", "how", "more",
    "other", "into", "some", "time", "only", "new", "just", "like", "than", "then", "now",
    "data", "code", "query", "database", "service", "request", "response", "session",
    "transaction", "test", "cache", "index", "table", "server", "client", "latency",
    "throughput", "deploy", "release", "bug", "feature", "design", "pattern", "module",
    "function", "class", "object", "value", "error", "failure", "retry", "timeout", "pool",
    "connection", "worker", "thread", "process", "memory", "disk", "network", "user",
    "article", "comment", "profile", "team", "review", "production", "simple", "fast",
    "slow", "careful", "clean", "small", "large", "better", "why", "because", "never",
    "always", "usually", "measure", "write", "read", "build", "run", "ship", "learn",
    "explain", "choose", "keep", "avoid", "prefer", "refactor", "scale", "monitor",
)  # fmt: skip
