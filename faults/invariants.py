"""The invariants checked after every fault, against the database and the service.

I1 no leaks, I2 nothing lost, I3 no half-written use case, I4 no duplicates (I5, the
service still answers, is measured with load and lives in run.py). Each check returns a
``Check``: passed or not, and a short account of what it saw.
"""

import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from load import PASSWORD, Ledger
from stack import METRICS_TOKEN, service_backends


@dataclass
class Check:
    ok: bool
    detail: str
    skipped: bool = False

    @property
    def mark(self) -> str:
        return "skip" if self.skipped else ("pass" if self.ok else "FAIL")


def _problems(name: str, problems: list[str], seen: str) -> Check:
    if not problems:
        return Check(True, seen)
    shown = "; ".join(problems[:3]) + (
        f"; ... ({len(problems)} in all)" if len(problems) > 3 else ""
    )
    return Check(False, f"{name}: {shown}")


# -- I1 ---------------------------------------------------------------------------------


def scrape_metrics(base_url: str) -> dict[str, float]:
    """The unlabelled samples of ``/metrics`` by name."""
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=5)
    response.raise_for_status()  # a refusal must not read as "no samples": no leaks seen
    text = response.text
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            samples[name] = float(value)
    return samples


def no_leaks(base_url: str, database: str, max_backends: int | None, drain: float = 5) -> Check:
    """I1: within ``drain`` seconds nothing is checked out and sessions opened == closed;
    no backend of the service is idle in a transaction, nor are there more than the pool."""
    deadline = time.monotonic() + drain
    while True:
        metrics = scrape_metrics(base_url)
        checked_out = metrics.get("conduit_db_pool_checked_out", 0.0)  # absent: no engine yet
        opened = metrics.get("conduit_db_sessions_opened_total", 0.0)
        closed = metrics.get("conduit_db_sessions_closed_total", 0.0)
        if (checked_out == 0 and opened == closed) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    idle_in_transaction = service_backends(database, state="idle in transaction")
    backends = service_backends(database)
    seen = (
        f"checked out {checked_out:.0f}, sessions opened {opened:.0f} / closed {closed:.0f}, "
        f"idle in transaction {len(idle_in_transaction)}, backends {len(backends)}"
    )
    ok = (
        checked_out == 0
        and opened == closed
        and not idle_in_transaction
        and (max_backends is None or len(backends) <= max_backends)
    )
    return Check(ok, seen)


# -- what the database holds --------------------------------------------------------------


@dataclass
class Snapshot:
    users: dict[str, str] = field(default_factory=dict)  # username -> email
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)  # by slug
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # by id
    favorites: set[tuple[str, str]] = field(default_factory=set)  # (username, slug)


def snapshot(conn: psycopg.Connection) -> Snapshot:
    snap = Snapshot()
    snap.users = dict(conn.execute("SELECT username, email FROM users").fetchall())
    rows = conn.execute(
        """
        SELECT a.slug, a.title, a.description, a.body, u.username, a.favorites_count,
               (SELECT count(*) FROM favorites f WHERE f.article_id = a.id),
               coalesce((SELECT array_agg(t.name ORDER BY t.name) FROM article_tags x
                         JOIN tags t ON t.id = x.tag_id WHERE x.article_id = a.id), '{}')
        FROM articles a JOIN users u ON u.id = a.author_id
        """
    ).fetchall()
    for slug, title, description, body, author, count, rows_, tags in rows:
        snap.articles[slug] = {
            "title": title,
            "description": description,
            "body": body,
            "author": author,
            "favorites_count": count,
            "favorite_rows": rows_,
            "tags": list(tags),
        }
    for comment_id, body, author, slug in conn.execute(
        "SELECT c.id, c.body, u.username, a.slug FROM comments c"
        " JOIN users u ON u.id = c.author_id JOIN articles a ON a.id = c.article_id"
    ):
        snap.comments[comment_id] = {"body": body, "author": author, "slug": slug}
    snap.favorites = {
        (username, slug)
        for username, slug in conn.execute(
            "SELECT u.username, a.slug FROM favorites f"
            " JOIN users u ON u.id = f.user_id JOIN articles a ON a.id = f.article_id"
        )
    }
    return snap


# -- I2 ---------------------------------------------------------------------------------


def nothing_lost(snap: Snapshot, ledger: Ledger, base_url: str, logins: int = 30) -> Check:
    """I2: every acknowledged write is there with the values the service returned."""
    problems: list[str] = []
    for username, user in ledger.users.items():
        if snap.users.get(username) != user["email"]:
            problems.append(f"user {username} missing or changed")
    sample = random.sample(sorted(ledger.users.values(), key=str), min(logins, len(ledger.users)))
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for user in sample:
            payload = {"user": {"email": user["email"], "password": PASSWORD}}
            response = client.post("/api/users/login", json=payload)
            if (
                response.status_code != 200
                or response.json()["user"]["username"] != user["username"]
            ):
                problems.append(f"login of {user['username']}: {response.status_code}")
    for slug, article in ledger.articles.items():
        stored = snap.articles.get(slug)
        if stored is None:
            problems.append(f"article {slug} missing")
            continue
        expected = {
            "title": article["title"],
            "description": article["description"],
            "author": article["author"]["username"],
            "tags": sorted(article["tagList"]),
        }
        if ledger.bodies.get(slug, "") is not None:  # None: the last edit's outcome is unknown
            expected["body"] = article["body"]
        for name, value in expected.items():
            if stored[name] != value:
                problems.append(f"article {slug} {name}: {stored[name]!r} != {value!r}")
    for comment_id, comment in ledger.comments.items():
        stored = snap.comments.get(comment_id)
        expected = {
            "body": comment["body"],
            "author": comment["author"]["username"],
            "slug": comment["slug"],
        }
        if stored != expected:
            problems.append(f"comment {comment_id}: {stored} != {expected}")
    known = {key: on for key, on in ledger.favorites.items() if on is not None}
    for (username, slug), on in known.items():
        if ((username, slug) in snap.favorites) != on:
            problems.append(f"favorite of {slug} by {username} should be {on}")
    seen = (
        f"{len(ledger.users)} users ({len(sample)} logins), {len(ledger.articles)} articles, "
        f"{len(ledger.comments)} comments, {len(known)} favorite states"
    )
    return _problems("lost or changed", problems, seen)


# -- I3 ---------------------------------------------------------------------------------

ORPHANS = {
    "article_tags without article": "SELECT count(*) FROM article_tags x"
    " WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = x.article_id)",
    "article_tags without tag": "SELECT count(*) FROM article_tags x"
    " WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.id = x.tag_id)",
    "favorites without article or user": "SELECT count(*) FROM favorites f"
    " WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = f.article_id)"
    " OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = f.user_id)",
    "comments without article or author": "SELECT count(*) FROM comments c"
    " WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = c.article_id)"
    " OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.author_id)",
    "articles without author": "SELECT count(*) FROM articles a"
    " WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.author_id)",
}


def no_half_writes(conn: psycopg.Connection, snap: Snapshot, ledger: Ledger) -> Check:
    """I3: every stored article is one that was sent, with all its tags; every counter
    equals its rows; every comment is one that was sent; nothing is orphaned."""
    problems: list[str] = []
    for slug, stored in snap.articles.items():
        attempt = ledger.article_attempts.get(stored["title"])
        if attempt is None:
            problems.append(f"article {slug} was never sent")
            continue
        if stored["author"] != attempt.author:
            problems.append(f"article {slug} author {stored['author']} != {attempt.author}")
        if stored["tags"] != sorted(set(attempt.tags)):
            problems.append(f"article {slug} tags {stored['tags']} != {sorted(set(attempt.tags))}")
        if stored["favorites_count"] != stored["favorite_rows"]:
            problems.append(
                f"article {slug} favorites_count {stored['favorites_count']}"
                f" != {stored['favorite_rows']} rows"
            )
    for comment_id, stored in snap.comments.items():
        sent = ledger.comment_attempts.get(stored["body"])
        if sent != (stored["slug"], stored["author"]):
            problems.append(f"comment {comment_id} does not match what was sent: {sent}")
    for name, query in ORPHANS.items():
        row = conn.execute(query).fetchone()
        if row and row[0]:
            problems.append(f"{row[0]} {name}")
    seen = f"{len(snap.articles)} articles, {len(snap.comments)} comments, no orphans"
    return _problems("half-written", problems, seen)


# -- I4 ---------------------------------------------------------------------------------

DUPLICATES = {
    "emails": "SELECT count(*) - count(DISTINCT lower(email)) FROM users",
    "usernames": "SELECT count(*) - count(DISTINCT username) FROM users",
    "slugs": "SELECT count(*) - count(DISTINCT slug) FROM articles",
    "tag names": "SELECT count(*) - count(DISTINCT name) FROM tags",
    "favorites": "SELECT count(*) - count(DISTINCT (user_id, article_id)) FROM favorites",
    # Titles and comment bodies are unique per attempt: two rows mean a write ran twice.
    "article titles": "SELECT count(*) - count(DISTINCT title) FROM articles",
    "comment bodies": "SELECT count(*) - count(DISTINCT body) FROM comments",
}


def no_duplicates(conn: psycopg.Connection) -> Check:
    """I4: unique keys hold, and no write was stored twice."""
    problems = []
    for name, query in DUPLICATES.items():
        row = conn.execute(query).fetchone()
        if row and row[0]:
            problems.append(f"{row[0]} duplicate {name}")
    return _problems("duplicates", problems, "unique emails, usernames, slugs, titles, comments")
