"""Hostile input, aimed at every write endpoint and every filter, on SQLite and PostgreSQL.

NUL bytes, strings one over each limit (PostgreSQL refuses what SQLite stores), huge and
negative integers, invalid UTF-8, deeply nested and oversized JSON, LIKE wildcards and SQL
metacharacters. Each request is refused with a 4xx in the spec's error body and writes
nothing (every table is compared before and after); a filter answers 200 with only the true
matches. Never a 500.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import Engine

from domain.articles import (
    BODY_MAX,
    DESCRIPTION_MAX,
    SLUG_MAX,
    TAG_MAX,
    TAGS_PER_ARTICLE_MAX,
    TITLE_MAX,
)
from domain.comments import COMMENT_MAX
from domain.users import BIO_MAX, EMAIL_MAX, IMAGE_MAX, PASSWORD_MAX, USERNAME_MAX
from infrastructure.settings import Settings
from tests.api.conftest import assert_error, auth
from tests.fuzz.conftest import Snapshot, World, snapshot

MIB = 1024 * 1024


@dataclass(frozen=True)
class Write:
    """A write endpoint with a request that succeeds; tests spoil one field of it."""

    name: str
    method: str
    path: str
    envelope: str  # "user", "article" or "comment"
    valid: dict[str, Any]
    fields: tuple[str, ...]  # the string fields; "tagList.0" is the first tag
    success: int
    as_alice: bool = True

    def body(self, **changes: Any) -> dict[str, Any]:
        fields = dict(self.valid)
        for name, value in changes.items():
            if name == "tagList.0":
                fields["tagList"] = [value, *fields["tagList"][1:]]
            else:
                fields[name] = value
        return {self.envelope: fields}


WRITES = [
    Write(
        "register",
        "POST",
        "/api/users",
        "user",
        {"username": "carol", "email": "carol@example.com", "password": "secret"},
        ("username", "email", "password"),
        201,
        as_alice=False,
    ),
    Write(
        "login",
        "POST",
        "/api/users/login",
        "user",
        {"email": "alice@example.com", "password": "secret"},
        ("email", "password"),
        200,
        as_alice=False,
    ),
    Write(
        "update user",
        "PUT",
        "/api/user",
        "user",
        {"username": "alicia", "email": "alicia@example.com", "password": "new", "bio": "b"},
        ("username", "email", "password", "bio", "image"),
        200,
    ),
    Write(
        "create article",
        "POST",
        "/api/articles",
        "article",
        {"title": "New one", "description": "d", "body": "b", "tagList": ["fresh", "new"]},
        ("title", "description", "body", "tagList.0"),
        201,
    ),
    Write(
        "update article",
        "PUT",
        "/api/articles/alice-writes",
        "article",
        {"title": "Alice rewrites", "description": "d2", "body": "b2"},
        ("title", "description", "body"),
        200,
    ),
    Write(
        "comment",
        "POST",
        "/api/articles/bob-writes/comments",
        "comment",
        {"body": "Nice"},
        ("body",),
        200,
    ),
]
FIELDS = [(write, field) for write in WRITES for field in write.fields]

LIMITS = {
    "username": USERNAME_MAX,
    "email": EMAIL_MAX,
    "password": PASSWORD_MAX,
    "bio": BIO_MAX,
    "image": IMAGE_MAX,
    "title": TITLE_MAX,
    "description": DESCRIPTION_MAX,
    "body": BODY_MAX,
    "tagList.0": TAG_MAX,
}


def _limit(write: Write, field: str) -> int:
    return COMMENT_MAX if write.envelope == "comment" else LIMITS[field]


def _of_length(field: str, length: int, char: str = "a") -> str:
    """A value for ``field`` of ``length`` characters that breaks no other rule."""
    if field == "email":
        domain = "@example.com"
        return char * (length - len(domain)) + domain
    return char * length


def _id(value: Any) -> str:
    if isinstance(value, Write):
        return value.name
    return repr(value)[:40]


# -- helpers -----------------------------------------------------------------------------


def _headers(write: Write, world: World) -> dict[str, str]:
    return {"Content-Type": "application/json", **(world.headers if write.as_alice else {})}


def send(client: TestClient, write: Write, world: World, content: Any) -> httpx.Response:
    """Send raw ``content`` (JSON, unless a test spoils it) to ``write``'s endpoint."""
    headers = _headers(write, world)
    return client.request(write.method, write.path, content=content, headers=headers)


def send_json(client: TestClient, write: Write, world: World, body: Any) -> httpx.Response:
    # ensure_ascii=False: what is measured against the limits is characters, not escapes.
    return send(client, write, world, json.dumps(body, ensure_ascii=False).encode())


@pytest.fixture
def unchanged(engine: Engine, world: World) -> Callable[[], None]:
    """Call it after the requests: every table is as it was before them (after seeding)."""
    before: Snapshot = snapshot(engine)

    def check() -> None:
        assert snapshot(engine) == before, "a refused request wrote to the database"

    return check


def assert_refused(response: httpx.Response, *statuses: int, what: object = "") -> None:
    """A 4xx in the spec's error body (one of ``statuses`` when given), never a 5xx."""
    shown = f"{what!r:.80}: {response.status_code} {response.text[:300]}"
    assert 400 <= response.status_code < 500, shown
    if statuses:
        assert response.status_code in statuses, shown
    assert_error(response, response.status_code)


def _refusal_statuses(write: Write) -> tuple[int, ...]:
    # Login answers a malformed email like an unknown one (401); the schema's limits are 422.
    return (401, 422) if write.name == "login" else (422,)


# -- the valid requests work, so the refusals below are about the spoiled field ---------------


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_the_valid_request_of_each_write_endpoint_succeeds(
    client: TestClient, world: World, write: Write
) -> None:
    response = send_json(client, write, world, write.body())

    assert response.status_code == write.success, response.text


# -- NUL bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_a_nul_byte_in_any_string_field_is_refused_and_writes_nothing(
    client: TestClient, world: World, unchanged: Callable[[], None], write: Write
) -> None:
    for field in write.fields:
        for value in ["nul\x00inside", "\x00", "trailing\x00"]:
            if field == "email":
                value += "@example.com"

            response = send_json(client, write, world, write.body(**{field: value}))

            assert_refused(response, *_refusal_statuses(write), what=(field, value))
    unchanged()


# -- lengths -------------------------------------------------------------------------------

# Characters, not bytes, are what the limits count: 1-, 2- and 4-byte characters alike.
CHARS = ["a", "\u00e9", "\U0001f409"]


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_a_string_one_over_its_limit_is_refused_and_writes_nothing(
    client: TestClient, world: World, unchanged: Callable[[], None], write: Write
) -> None:
    for field in write.fields:
        for char in CHARS:
            value = _of_length(field, _limit(write, field) + 1, char)

            response = send_json(client, write, world, write.body(**{field: value}))

            assert_refused(response, *_refusal_statuses(write), what=(field, char))
    unchanged()


@pytest.mark.parametrize(
    ("write", "field", "char"),
    [
        (write, field, char)
        for write, field in FIELDS
        if write.name != "login"
        for char in (CHARS if field != "username" else ["a"])  # usernames are ASCII
    ],
    ids=_id,
)
def test_a_string_at_its_limit_is_stored_whole(
    client: TestClient, world: World, write: Write, field: str, char: str
) -> None:
    value = _of_length(field, _limit(write, field), char)

    response = send_json(client, write, world, write.body(**{field: value}))

    assert response.status_code == write.success, response.text[:300]
    stored = response.json()[write.envelope]
    if field == "tagList.0":
        assert value in stored["tagList"]
    elif field != "password":
        assert stored[field] == (value.lower() if field == "email" else value)


def test_an_email_over_its_limit_with_room_for_spaces_is_refused(
    client: TestClient, world: World, unchanged: Callable[[], None]
) -> None:
    # The schema allows EMAIL_MAX + 64 characters (for surrounding spaces); the trimmed
    # address must still fit the column.
    register = WRITES[0]
    value = "  " + _of_length("email", EMAIL_MAX + 1) + "  "

    response = send_json(client, register, world, register.body(email=value))

    assert_refused(response, 422)
    unchanged()


def test_more_tags_than_allowed_is_refused(
    client: TestClient, world: World, unchanged: Callable[[], None]
) -> None:
    create = WRITES[3]
    tags = [f"tag{i}" for i in range(TAGS_PER_ARTICLE_MAX + 1)]

    response = send_json(client, create, world, {"article": {**create.valid, "tagList": tags}})

    assert_refused(response, 422)
    unchanged()


# -- wrong types and huge numbers in bodies ----------------------------------------------------


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_a_non_string_in_a_string_field_is_refused_and_writes_nothing(
    client: TestClient, world: World, unchanged: Callable[[], None], write: Write
) -> None:
    for field in write.fields:
        for value in [2**63, 10**100, -(2**63), 1.5, True, None, [], {}, ["x"]]:
            if value is None and write.name.startswith("update"):
                continue  # null leaves the field as it is

            response = send_json(client, write, world, write.body(**{field: value}))

            assert_refused(response, 422, what=(field, value))
    unchanged()


NOT_THE_OBJECT = [
    b"1e999",  # a float that overflows to infinity
    b"9" * 5000,  # an integer past Python's limit on digits for str -> int
    b"-" + b"9" * 400,
    b"NaN",
    b"null",
    b'"a string"',
    b"[]",
    b"{}",
    b'{"user": null, "article": null, "comment": null}',
    b'{"user": 1e999, "article": 1e999, "comment": 1e999}',
    b"",
]


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_a_body_that_is_not_the_expected_object_is_refused(
    client: TestClient, world: World, unchanged: Callable[[], None], write: Write
) -> None:
    for content in NOT_THE_OBJECT:
        response = send(client, write, world, content)

        assert_refused(response, 400, 422, what=content)
    unchanged()


# -- invalid UTF-8 and broken JSON -------------------------------------------------------------

INVALID_UTF8 = [
    b'{"user":{"email":"\xff"}}',
    b'{"%s":{"%s":"caf\xe9"}}',  # Latin-1, not UTF-8
    b'{"%s":{"%s":"\xc3\x28"}}',  # a 2-byte sequence with a bad continuation byte
    b'{"%s":{"%s":"\xc0\xaf"}}',  # an overlong encoding of "/"
    b'{"%s":{"%s":"\xed\xa0\x80"}}',  # a UTF-16 surrogate, encoded as if it were UTF-8
    b'{"%s":{"%s":"\xf4\x90\x80\x80"}}',  # past U+10FFFF
    b'{"%s":{"%s":"\xe2\x82"}}',  # truncated
    b"\xfe\xff\x00{",  # a UTF-16 byte order mark, then garbage
]


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_a_body_that_is_not_utf8_is_refused_and_writes_nothing(
    client: TestClient, world: World, unchanged: Callable[[], None], write: Write
) -> None:
    for field in write.fields:
        for template in INVALID_UTF8:
            content = template
            if b"%s" in template:
                content = template % (write.envelope.encode(), field.split(".")[0].encode())

            response = send(client, write, world, content)

            assert_refused(response, 400, 422, what=content)
    unchanged()


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_an_escaped_lone_surrogate_is_refused_and_writes_nothing(
    client: TestClient, world: World, unchanged: Callable[[], None], write: Write
) -> None:
    # Valid JSON, but no UTF-8 string (and no PostgreSQL text) can hold the character.
    for field in write.fields:
        for escape in ["\\ud800", "\\udfff", "a\\ud83d", "\\ude00b"]:
            body = json.dumps(write.body(**{field: "MARK"})).replace("MARK", escape)

            response = send(client, write, world, body.encode())

            assert_refused(response, 422, what=(field, escape))
    unchanged()


NESTED = [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b"[" * 100_000,  # deep and unterminated
    b'{"user":{"bio":' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
    b'{"article":{"title":' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
    b'{"comment":{"body":' + b'{"x":' * 10_000 + b"1" + b"}" * 10_000 + b"}}",
    # Shallow enough for the parser, still nowhere near a string.
    b'{"user":{"username":' + b"[" * 50 + b"]" * 50 + b"}}",
]


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_deeply_nested_json_is_refused_and_writes_nothing(
    client: TestClient, world: World, unchanged: Callable[[], None], write: Write
) -> None:
    for content in NESTED:
        response = send(client, write, world, content)

        assert_refused(response, 400, 422, what=content[:30])
    unchanged()


@pytest.mark.parametrize("write", WRITES, ids=_id)
def test_an_oversized_body_is_413_and_writes_nothing(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    settings: Settings,
    write: Write,
) -> None:
    # Valid JSON in every other way: one field is two megabytes long.
    field = write.fields[-1].split(".")[0]
    content = json.dumps(write.body(**{field: "x" * (2 * MIB)})).encode()
    assert len(content) > settings.max_body_bytes

    with_length = send(client, write, world, content)
    # From a generator httpx sends the body chunked, without Content-Length.
    chunked = send(client, write, world, iter([content]))

    assert_refused(with_length, 413)
    assert_refused(chunked, 413)
    unchanged()


# -- integers in the query and the path --------------------------------------------------------

BAD_PAGE = ["-1", "0", str(-(2**63)), str(2**31), str(2**63), str(10**100), "1e3", "NaN", ""]


@pytest.mark.parametrize("path", ["/api/articles", "/api/articles/feed"])
@pytest.mark.parametrize("name", ["limit", "offset"])
def test_an_out_of_range_page_is_refused(
    client: TestClient, world: World, unchanged: Callable[[], None], path: str, name: str
) -> None:
    for value in BAD_PAGE:
        if name == "offset" and value == "0":
            continue  # the first page

        response = client.get(path, params={name: value}, headers=world.headers)

        assert_refused(response, 422, what=value)
    unchanged()


def test_an_out_of_range_comment_id_is_refused_and_deletes_nothing(
    client: TestClient, world: World, unchanged: Callable[[], None]
) -> None:
    # Alice may delete her own comment (on Bob's article); none of these ids name it.
    for comment_id in ["0", "-1", str(-(2**63)), str(2**31), str(2**63), str(10**100), "1.5"]:
        path = f"/api/articles/{world.bob_slug}/comments/{comment_id}"

        response = client.delete(path, headers=world.headers)

        assert_refused(response, 422, what=comment_id)
    unchanged()


def test_the_valid_comment_id_deletes_the_comment(client: TestClient, world: World) -> None:
    path = f"/api/articles/{world.bob_slug}/comments/{world.alice_comment_id}"

    assert client.delete(path, headers=world.headers).status_code == 204


# -- filters: LIKE wildcards and SQL metacharacters match only themselves ----------------------

HOSTILE = [
    "%",
    "%%",
    "_",
    "____",
    "a%",
    "%a%",
    "dragon_",
    "drag%",
    "a_b%",
    "' OR 1=1 --",
    "' OR '1'='1",
    '"; DROP TABLE users; --',
    "'; DELETE FROM articles; --",
    "\\",
    "\\%",
    "\\_",
    "\\'",
    "*",
    ".*",
    "[a-z]%",
    "$1",
    "?",
    ":name",
    "%s",
]


@dataclass(frozen=True)
class Listed:
    tags: frozenset[str]
    author: str
    fans: frozenset[str]  # who favorited it


@dataclass(frozen=True)
class Library:
    """Every article (by slug) with its tags, author and fans: the oracle for the filters."""

    articles: dict[str, Listed]

    def matches(self, name: str, value: str) -> set[str]:
        def match(article: Listed) -> bool:
            if name == "tag":
                return value in article.tags
            if name == "author":
                return value == article.author
            return value in article.fans

        return {slug for slug, article in self.articles.items() if match(article)}


@pytest.fixture
def library(
    client: TestClient,
    world: World,
    register: Callable[..., dict[str, Any]],
    create_article: Callable[..., dict[str, Any]],
) -> Library:
    """``world`` plus tags and names made of metacharacters, and the near misses a LIKE
    would confuse them with: ``author=a_b`` as a pattern finds ``axb`` too, ``tag=50%``
    finds ``500``."""
    a_b = register("a_b")
    axb = register("axb")
    slug = create_article(a_b, title="By a_b", tags=["50%", "o'reilly"])["slug"]
    create_article(axb, title="By axb", tags=["500", "oxreilly", "dragons"])
    for tag in ["' OR 1=1 --", '"; DROP TABLE users; --', "\\", "%", "_", "%%"]:
        create_article(axb, title=f"Tagged {tag}", tags=[tag])
    assert client.post(f"/api/articles/{slug}/favorite", headers=auth(a_b)).status_code == 200
    fans = {world.alice_slug: {"bob"}, slug: {"a_b"}}  # world: Bob favorited Alice's article

    listed = client.get("/api/articles", params={"limit": 100}).json()["articles"]
    return Library(
        {
            article["slug"]: Listed(
                tags=frozenset(article["tagList"]),
                author=article["author"]["username"],
                fans=frozenset(fans.get(article["slug"], ())),
            )
            for article in listed
        }
    )


def _slugs(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["articlesCount"] == len(body["articles"]), body
    return {article["slug"] for article in body["articles"]}


@pytest.mark.parametrize("name", ["tag", "author", "favorited"])
def test_a_filter_with_metacharacters_matches_only_itself(
    client: TestClient, library: Library, unchanged: Callable[[], None], name: str
) -> None:
    for value in HOSTILE:
        response = client.get("/api/articles", params={name: value, "limit": 100})

        assert _slugs(response) == library.matches(name, value), value
    # The hostile tags are stored, so some of these must find exactly one article.
    assert library.matches("tag", "%") and library.matches("tag", "' OR 1=1 --")
    unchanged()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("author", "a_b"),
        ("author", "axb"),
        ("favorited", "a_b"),
        ("tag", "50%"),
        ("tag", "500"),
        ("tag", "o'reilly"),
        ("tag", "dragons"),
    ],
)
def test_a_filter_finds_its_true_matches_and_not_the_near_misses(
    client: TestClient, library: Library, name: str, value: str
) -> None:
    found = _slugs(client.get("/api/articles", params={name: value, "limit": 100}))

    assert found == library.matches(name, value)
    assert found


@hypothesis.settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(["tag", "author", "favorited"]),
    value=st.one_of(
        st.sampled_from(["dragons", "50%", "%", "_", "a_b", "axb", "alice", "\\", "o'reilly"]),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
    ),
)
def test_a_filter_finds_exactly_its_true_matches(
    client: TestClient, library: Library, name: str, value: str
) -> None:
    response = client.get("/api/articles", params={name: value, "limit": 100})

    if "\x00" in value:
        assert_refused(response, 422)
    else:
        assert _slugs(response) == library.matches(name, value)


@pytest.mark.parametrize("name", ["tag", "author", "favorited"])
def test_a_filter_with_a_nul_byte_or_over_its_limit_is_refused(
    client: TestClient, name: str
) -> None:
    for value in ["\x00", "a\x00b", "%\x00", "%" * 257, "a" * 257]:
        assert_refused(client.get("/api/articles", params={name: value}), 422)


# -- path parameters -----------------------------------------------------------------------

PATH_OPERATIONS = [
    ("GET", "/api/articles/{}"),
    ("PUT", "/api/articles/{}"),
    ("DELETE", "/api/articles/{}"),
    ("POST", "/api/articles/{}/favorite"),
    ("DELETE", "/api/articles/{}/favorite"),
    ("GET", "/api/articles/{}/comments"),
    ("POST", "/api/articles/{}/comments"),
    ("DELETE", "/api/articles/{}/comments/1"),
    ("GET", "/api/profiles/{}"),
    ("POST", "/api/profiles/{}/follow"),
    ("DELETE", "/api/profiles/{}/follow"),
]


def _path_request(
    client: TestClient, world: World, method: str, template: str, raw: str
) -> httpx.Response:
    """``raw`` is put into the path as it is: quote it first unless testing the encoding."""
    body = None
    if method == "PUT":
        body = {"article": {"title": "x"}}
    elif template.endswith("/comments") and method == "POST":
        body = {"comment": {"body": "x"}}
    return client.request(method, template.format(raw), json=body, headers=world.headers)


@pytest.mark.parametrize(("method", "template"), PATH_OPERATIONS)
def test_a_path_with_metacharacters_names_nothing_and_writes_nothing(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    method: str,
    template: str,
) -> None:
    for value in HOSTILE:
        response = _path_request(client, world, method, template, quote(value, safe=""))

        assert_refused(response, 404)
    unchanged()


@pytest.mark.parametrize(("method", "template"), PATH_OPERATIONS)
def test_a_path_with_a_nul_byte_or_over_its_limit_is_refused(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    method: str,
    template: str,
) -> None:
    limit = USERNAME_MAX if "profiles" in template else SLUG_MAX
    existing = "bob" if "profiles" in template else world.alice_slug
    for value in [f"{existing}\x00", f"\x00{existing}", "a" * (limit + 1), "%" * (limit + 1)]:
        response = _path_request(client, world, method, template, quote(value, safe=""))

        assert_refused(response, 422)
    unchanged()


@pytest.mark.parametrize(("method", "template"), PATH_OPERATIONS)
def test_a_path_that_is_not_utf8_names_nothing(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    method: str,
    template: str,
) -> None:
    for raw in ["%FF", "%C3%28", "%ED%A0%80", "%C0%AF", "bob%FF", "alice-writes%ED%A0%80"]:
        response = _path_request(client, world, method, template, raw)

        assert_refused(response, 404)
    unchanged()


@pytest.mark.parametrize("value", ["' OR 1=1 --", "\"'; DROP TABLE articles; --", "%", "_\\"])
def test_metacharacters_in_a_title_are_stored_verbatim(
    client: TestClient, world: World, value: str
) -> None:
    create = WRITES[3]

    response = send_json(client, create, world, create.body(title=value, body=value))

    assert response.status_code == 201, response.text
    slug = response.json()["article"]["slug"]
    stored = client.get(f"/api/articles/{quote(slug, safe='')}").json()["article"]
    assert (stored["title"], stored["body"]) == (value, value)
    assert client.get("/api/tags").status_code == 200
