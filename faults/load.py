"""The load driver: an asyncio + httpx client of its own, and the ledger of what it was told.

Every request is recorded (when it started and ended, its status or why it has none), and
every write is recorded twice: as an attempt before it is sent, and, if the service
acknowledged it (2xx), with what the service returned. The invariants compare the database
with both.
"""

import asyncio
import random
import time
import uuid
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "faults-password"
CLIENT_TIMEOUT = 10.0  # longer than any answer the service may take; reaching it is a hang
TAG_POOL = [f"tag{i}" for i in range(12)]


@dataclass
class Record:
    kind: str
    started: float  # time.monotonic()
    finished: float
    status: int | None  # None: no HTTP answer
    error: str | None = None  # why there is no answer
    aborted: bool = False  # the client gave up on purpose (a disconnect test)
    request_id: str = ""  # sent as X-Request-ID, which the service logs


# The last request made in this task: a worker backs off after a failure, a storm looks
# whether its request was aborted.
_last_record: ContextVar[Record | None] = ContextVar("last_record", default=None)


def last_record() -> Record | None:
    """The record of the last request made in the current task."""
    return _last_record.get()


@dataclass
class User:
    username: str
    email: str
    token: str


@dataclass
class ArticleAttempt:
    author: str
    title: str
    description: str
    body: str
    tags: list[str]


@dataclass
class Ledger:
    """What was attempted, and what the service acknowledged (2xx) with the values it returned."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # username -> user json
    article_attempts: dict[str, ArticleAttempt] = field(default_factory=dict)  # by title
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)  # slug -> article json
    # The body an article must have: the last acknowledged update; None once an update's
    # outcome is unknown (until the next acknowledged one).
    bodies: dict[str, str | None] = field(default_factory=dict)
    # Comments by body (unique per attempt): (slug, author).
    comment_attempts: dict[str, tuple[str, str]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> comment json + slug
    # (username, slug) -> favorited, or None when the last attempt's outcome is unknown.
    favorites: dict[tuple[str, str], bool | None] = field(default_factory=dict)

    def slugs(self) -> list[str]:
        return list(self.articles)


class Stats:
    """Every request of one fault run."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def summary(self) -> dict[str, int]:
        counts = Counter(_category(r) for r in self.records)
        return {
            "requests": len(self.records),
            "2xx": counts["2xx"],
            "503": counts["503"],
            "other": counts["other"],
            "net": counts["net"],
            "hung": counts["hung"],
        }

    def others(self, net: bool = False) -> Counter[str]:
        """What the unexpected answers were: status (kind), or the error; ``net``: also
        the requests without an answer."""
        unexpected = ("other", "hung", "net") if net else ("other", "hung")
        return Counter(
            f"{r.status or r.error} ({r.kind})" for r in self.records if _category(r) in unexpected
        )

    def since(self, moment: float) -> list[Record]:
        return [r for r in self.records if r.started >= moment]


def _category(record: Record) -> str:
    if record.status is None:
        if record.error == "client timeout":
            return "hung"
        return "net"
    if 200 <= record.status < 300:
        return "2xx"
    if record.status == 503:
        return "503"
    return "other"


def success_ratio(records: list[Record]) -> float:
    if not records:
        return 1.0
    return sum(1 for r in records if r.status is not None and 200 <= r.status < 300) / len(records)


def new_title() -> str:
    return f"Fault article {uuid.uuid4().hex}"


class LoadDriver:
    """Requests against one service, recorded in ``stats``; writes recorded in ``ledger``."""

    def __init__(
        self, base_url: str, ledger: Ledger, seed: int = 0, local_address: str | None = None
    ) -> None:
        """``local_address``: the client's own address (one of 127.0.0.0/8, say), so that
        several drivers look like several clients to a front that limits per address."""
        self.base_url = base_url
        self.ledger = ledger
        self.stats = Stats()
        self.rng = random.Random(seed)
        # A connection idle for about the server's keep-alive timeout (5 s) may be closed by
        # the server just as a request goes out on it: an error no server can avoid. The
        # client lets go of idle connections well before (httpx's own default is 5 s too).
        limits = httpx.Limits(
            max_connections=400, max_keepalive_connections=100, keepalive_expiry=2.0
        )
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=CLIENT_TIMEOUT,
            transport=httpx.AsyncHTTPTransport(local_address=local_address, limits=limits),
        )

    async def close(self) -> None:
        await self.client.aclose()

    # -- one request ------------------------------------------------------------------------

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        user: User | None = None,
        body: dict[str, Any] | None = None,
        abort_after: float | None = None,
    ) -> httpx.Response | None:
        """One request; ``abort_after`` seconds: cancel it then (the client disconnects)."""
        request_id = uuid.uuid4().hex
        headers = {"X-Request-ID": request_id}
        if user:
            headers["Authorization"] = f"Token {user.token}"
        started = time.monotonic()
        request = self.client.request(method, path, json=body, headers=headers)
        try:
            if abort_after is None:
                response = await request
            else:
                response = await asyncio.wait_for(request, abort_after)
        except TimeoutError:
            self._record(kind, started, request_id, None, "aborted by the client", aborted=True)
            return None
        except httpx.TimeoutException:
            self._record(kind, started, request_id, None, "client timeout")
            return None
        except httpx.HTTPError as error:
            self._record(kind, started, request_id, None, type(error).__name__)
            return None
        self._record(kind, started, request_id, response.status_code)
        return response

    def _record(
        self,
        kind: str,
        started: float,
        request_id: str,
        status: int | None,
        error: str | None = None,
        aborted: bool = False,
    ) -> None:
        record = Record(kind, started, time.monotonic(), status, error, aborted, request_id)
        self.stats.records.append(record)
        _last_record.set(record)

    # -- use cases --------------------------------------------------------------------------

    async def register(self, prefix: str = "u", abort_after: float | None = None) -> User | None:
        name = f"{prefix}{uuid.uuid4().hex[:12]}"
        email = f"{name}@faults.example"
        payload = {"user": {"username": name, "email": email, "password": PASSWORD}}
        response = await self.call("register", "POST", "/api/users", None, payload, abort_after)
        if response is None or response.status_code != 201:
            return None
        user = response.json()["user"]
        self.ledger.users[user["username"]] = user
        return User(user["username"], user["email"], user["token"])

    async def create_article(
        self, author: User, abort_after: float | None = None, title: str | None = None
    ) -> str | None:
        title = title or new_title()
        tags = self.rng.sample(TAG_POOL, self.rng.randint(0, 3))
        tags += [f"t-{uuid.uuid4().hex[:10]}" for _ in range(self.rng.randint(0, 2))]
        attempt = ArticleAttempt(author.username, title, "about faults", f"body {title}", tags)
        self.ledger.article_attempts[title] = attempt
        payload = {
            "article": {
                "title": title,
                "description": attempt.description,
                "body": attempt.body,
                "tagList": tags,
            }
        }
        response = await self.call(
            "create article", "POST", "/api/articles", author, payload, abort_after
        )
        if response is None or response.status_code != 201:
            return None
        article = response.json()["article"]
        self.ledger.articles[article["slug"]] = article
        return article["slug"]

    async def update_body(self, author: User, slug: str) -> None:
        body = f"edited {uuid.uuid4().hex}"
        payload = {"article": {"body": body}}
        response = await self.call(
            "update article", "PUT", f"/api/articles/{slug}", author, payload
        )
        ok = response is not None and response.status_code == 200
        self.ledger.bodies[slug] = body if ok else None
        if ok:
            assert response is not None
            self.ledger.articles[slug] = response.json()["article"]

    async def comment(self, author: User, slug: str, abort_after: float | None = None) -> None:
        body = f"comment {uuid.uuid4().hex}"
        self.ledger.comment_attempts[body] = (slug, author.username)
        payload = {"comment": {"body": body}}
        path = f"/api/articles/{slug}/comments"
        response = await self.call("comment", "POST", path, author, payload, abort_after)
        if response is not None and response.status_code == 200:
            comment = response.json()["comment"]
            self.ledger.comments[comment["id"]] = {**comment, "slug": slug}

    async def favorite(
        self, user: User, slug: str, on: bool, abort_after: float | None = None
    ) -> None:
        method = "POST" if on else "DELETE"
        kind = "favorite" if on else "unfavorite"
        path = f"/api/articles/{slug}/favorite"
        response = await self.call(kind, method, path, user, None, abort_after)
        ok = response is not None and response.status_code == 200
        if ok:
            assert response is not None
            ok = response.json()["article"]["favorited"] is on
        self.ledger.favorites[(user.username, slug)] = on if ok else None

    async def read(self, user: User | None) -> None:
        slugs = self.ledger.slugs()
        choice = self.rng.random()
        if choice < 0.4 or not slugs:
            offset = self.rng.randint(0, 20)
            await self.call("list articles", "GET", f"/api/articles?limit=10&offset={offset}", user)
        elif choice < 0.7:
            await self.call("get article", "GET", f"/api/articles/{self.rng.choice(slugs)}", user)
        elif choice < 0.9:
            slug = self.rng.choice(slugs)
            await self.call("list comments", "GET", f"/api/articles/{slug}/comments", user)
        else:
            await self.call("tags", "GET", "/api/tags", user)

    # -- mixes ------------------------------------------------------------------------------

    async def one_mixed_request(self, user: User) -> None:
        """60% reads, 40% writes: articles with tags, comments, favorites, registrations."""
        slugs = self.ledger.slugs()
        choice = self.rng.random()
        if choice < 0.6 or not slugs:
            await self.read(user)
        elif choice < 0.72:
            await self.create_article(user)
        elif choice < 0.82:
            await self.comment(user, self.rng.choice(slugs))
        elif choice < 0.97:
            slug = self.rng.choice(slugs)
            current = self.ledger.favorites.get((user.username, slug))
            await self.favorite(user, slug, on=not current)
        else:
            await self.register()

    async def mixed_load(
        self, users: list[User], stop: asyncio.Event, max_requests: int = 100_000
    ) -> None:
        """One worker per user (so each user's writes are in order) until ``stop``."""

        async def worker(user: User) -> None:
            while not stop.is_set() and len(self.stats.records) < max_requests:
                await self.one_mixed_request(user)
                last = last_record()
                if last is not None and last.status not in (200, 201):
                    # A client backs off when told to (503 Retry-After) or when it cannot
                    # connect, instead of spinning on a service that is down.
                    await asyncio.sleep(0.1 + self.rng.random() * 0.1)

        await asyncio.gather(*(worker(user) for user in users))

    async def burst(self, users: list[User], total: int, concurrency: int) -> list[Record]:
        """``total`` mixed requests, ``concurrency`` at a time (one user per worker)."""
        first = len(self.stats.records)
        remaining = [total]

        async def worker(user: User) -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await self.one_mixed_request(user)

        await asyncio.gather(*(worker(user) for user in users[:concurrency]))
        return self.stats.records[first:]
