"""Tables and the imperative mapping of the domain's entities onto them.

Alembic's ``target_metadata`` is ``metadata`` here; every table lives in this module, so
autogenerate sees them all. Relationships are ``lazy="raise"``: a load that was not asked
for is an error in tests, never a hidden query per row in production.
"""

from typing import TypedDict

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import registry, relationship

from domain.articles import SLUG_MAX, TAG_MAX, TITLE_MAX, Article, Tag
from domain.comments import Comment
from domain.users import EMAIL_MAX, USERNAME_MAX, User
from infrastructure.backend import Backend, backend_of

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Timestamps are stored in UTC; SQLite hands them back naive, the read side marks them UTC.
Timestamp = DateTime(timezone=True)


class _DialectOptions(TypedDict):
    """Keyword options ``Table`` passes to a dialect (a plain dict would also match its
    named parameters, so the type checker could not pick an overload)."""

    sqlite_autoincrement: bool


# Tables with a surrogate id never give a deleted row's id to a new one: a token names a user
# id, so a reused id would hand a deleted user's token the next user's account. PostgreSQL's
# sequences never reuse; SQLite needs AUTOINCREMENT (otherwise it takes max(id) + 1).
NEVER_REUSE_IDS: _DialectOptions = {"sqlite_autoincrement": True}

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(USERNAME_MAX), nullable=False),
    Column("email", String(EMAIL_MAX), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("bio", Text, nullable=False, server_default=""),
    Column("image", Text, nullable=False, server_default=""),
    # Bumped by a password change; tokens of an earlier generation no longer count.
    Column("token_generation", Integer, nullable=False, server_default="0"),
    UniqueConstraint("email"),
    **NEVER_REUSE_IDS,
)
# One username whatever its case (``alice`` and ``Alice`` would be an impersonation); the
# case written is kept for display. Lookups compare ``lower(username)``, so they use it.
Index("uq_users_lower_username", func.lower(users.c.username), unique=True)

follows = Table(
    "follows",
    metadata,
    Column("follower_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("followee_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # The primary key serves "whom does X follow"; this serves "who follows X".
    Index(None, "followee_id"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(SLUG_MAX), nullable=False),
    Column("title", String(TITLE_MAX), nullable=False),
    Column("description", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("author_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("favorites_count", Integer, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("slug"),
    Index(None, "created_at", "id"),
    Index(None, "author_id", "created_at"),
    **NEVER_REUSE_IDS,
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(TAG_MAX), nullable=False),
    UniqueConstraint("name"),
    **NEVER_REUSE_IDS,
)

article_tags = Table(
    "article_tags",
    metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "tag_id", "article_id"),
)

favorites = Table(
    "favorites",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "article_id"),
)

bookmarks = Table(
    "bookmarks",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", Timestamp, nullable=False),
    Index(None, "article_id"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index(None, "article_id", "id"),
    **NEVER_REUSE_IDS,
)

mapper_registry = registry(metadata=metadata)
_mapped = False


def map_entities() -> None:
    """Map the domain classes onto the tables, once per process."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(User, users)
    mapper_registry.map_imperatively(Tag, tags)
    mapper_registry.map_imperatively(
        Article,
        articles,
        properties={
            "tags": relationship(Tag, secondary=article_tags, lazy="raise", passive_deletes=True)
        },
    )
    mapper_registry.map_imperatively(Comment, comments)
    _mapped = True


def empty_tables(connection: Connection) -> None:
    """Delete every row of every table, and start ids from 1 again (the seed's ``--reset``,
    and the tests between two tests)."""
    if backend_of(connection) is Backend.POSTGRESQL:
        names = ", ".join(table.name for table in metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
        # As RESTART IDENTITY does above: AUTOINCREMENT tables keep their counters here.
        connection.execute(text("DELETE FROM sqlite_sequence"))
