"""The scenarios: what the seeded database offers them (``Fixture``), the requests each one
sends, and the HTTP calls that log in and capture a response for the ceiling."""

import base64
import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/conduit_bench"
SEED = {
    "users": 200,
    "articles": 2000,
    "tags": 30,
    "follows": 10,
    "favorites": 5000,
    "comments": 3000,
}
BENCH_USER = ("user0@example.com", "password")  # see `conduit seed --help`
ARTICLE_SLUGS = 2000  # the single-article scenario rotates over this many slugs
FAVORITE_SLUGS = 256  # more than the connections, so no two requests in flight share one


class BenchError(Exception):
    pass


@dataclass(frozen=True)
class Fixture:
    """What the seeded database offers the scenarios."""

    token: str
    slugs: list[str]  # every article's, in a fixed shuffled order
    comments_slug: str  # the article with the most comments
    comments_count: int
    followed_username: str  # someone the bench user follows


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    mode: str  # "get", "favorite" or "create" (see bench/scenario.lua)
    auth: bool
    target: float  # the minimum fraction of the ceiling
    read: bool  # reads also have the p99 target
    paths: Callable[[Fixture], list[str]]

    @property
    def method(self) -> str:
        return "GET" if self.mode == "get" else "POST"


SCENARIOS = [
    Scenario(
        "list",
        "list articles (anonymous, 20)",
        "get",
        False,
        0.15,
        True,
        lambda f: ["/api/articles?limit=20&offset=0"],
    ),
    Scenario(
        "list_auth",
        "list articles (authenticated, 20)",
        "get",
        True,
        0.15,
        True,
        lambda f: ["/api/articles?limit=20&offset=0"],
    ),
    Scenario(
        "feed",
        "feed (authenticated, 20)",
        "get",
        True,
        0.15,
        True,
        lambda f: ["/api/articles/feed?limit=20&offset=0"],
    ),
    Scenario(
        "article",
        "single article (rotating slugs)",
        "get",
        True,
        0.25,
        True,
        lambda f: [f"/api/articles/{slug}" for slug in f.slugs[:ARTICLE_SLUGS]],
    ),
    Scenario(
        "comments",
        "comments of an article",
        "get",
        True,
        0.25,
        True,
        lambda f: [f"/api/articles/{f.comments_slug}/comments"],
    ),
    Scenario(
        "profile",
        "profile (followed user)",
        "get",
        True,
        0.25,
        True,
        lambda f: [f"/api/profiles/{f.followed_username}"],
    ),
    Scenario("tags", "tags", "get", False, 0.25, True, lambda f: ["/api/tags"]),
    Scenario(
        "favorite",
        "favorite / unfavorite alternating",
        "favorite",
        True,
        0.12,
        False,
        lambda f: [f"/api/articles/{slug}/favorite" for slug in f.slugs[:FAVORITE_SLUGS]],
    ),
    Scenario(
        "create",
        "create article",
        "create",
        True,
        0.12,
        False,
        lambda f: ["/api/articles"],
    ),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


def load_fixture(url: str, token: str) -> Fixture:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            slugs = list(connection.scalars(text("SELECT slug FROM articles ORDER BY id")))
            comments_slug, comments_count = connection.execute(
                text(
                    "SELECT a.slug, count(*) FROM comments c JOIN articles a ON a.id = c.article_id"
                    " GROUP BY a.slug ORDER BY count(*) DESC, a.slug LIMIT 1"
                )
            ).one()
            followed = connection.scalar(
                text(
                    "SELECT u.username FROM follows f"
                    " JOIN users me ON me.id = f.follower_id"
                    " JOIN users u ON u.id = f.followee_id"
                    " WHERE me.email = :email ORDER BY u.username LIMIT 1"
                ),
                {"email": BENCH_USER[0]},
            )
    finally:
        engine.dispose()
    random.Random(0).shuffle(slugs)
    return Fixture(
        token=token,
        slugs=slugs,
        comments_slug=comments_slug,
        comments_count=comments_count,
        followed_username=followed,
    )


def http(
    method: str, url: str, token: str = "", body: dict[str, Any] | None = None
) -> tuple[int, str, bytes]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read()


def log_in(base_url: str) -> str:
    email, password = BENCH_USER
    status, _type, body = http(
        "POST", base_url + "/api/users/login", body={"user": {"email": email, "password": password}}
    )
    if status != 200:
        raise BenchError(f"logging in {email} failed: {status} {body[:300]!r}")
    return json.loads(body)["user"]["token"]


def capture(base_url: str, scenario: Scenario, path: str, token: str, run_id: str) -> dict:
    """The service's response to the scenario's first request, for the ceiling to serve."""
    body = None
    if scenario.mode == "create":
        body = {
            "article": {
                "title": f"Bench {run_id} captured article",
                "description": "Written by wrk",
                "body": "A body long enough to look like a short post, written by the benchmark.",
                "tagList": ["bench", "wrk"],
            }
        }
    status, content_type, content = http(
        scenario.method, base_url + path, token if scenario.auth else "", body
    )
    if not 200 <= status < 300:
        raise BenchError(f"{scenario.name}: {scenario.method} {path} -> {status} {content[:300]!r}")
    return {
        "status": status,
        "content_type": content_type,
        "body_base64": base64.b64encode(content).decode(),
        "bytes": len(content),
        "path": path,
    }
