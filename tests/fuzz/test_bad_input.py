"""Hostile input, aimed at every write endpoint and every filter, on SQLite and PostgreSQL.

NUL bytes, strings one over each limit (PostgreSQL refuses what SQLite stores), huge and
negative integers, invalid UTF-8, deeply nested and oversized JSON, LIKE wildcards and SQL
metacharacters. Each request is refused with a 4xx in the spec's error body and writes
nothing (every table is compared before and after); a filter answers 200 with only the true
matches. Never a 500.

The endpoints come from the app (``tests.routes``): every route with a body, every path
parameter and every integer or string query parameter, so a route added later is fuzzed
too; what its request needs comes from the examples there.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import quote

import httpx
import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import Engine

from domain.articles import (
    BODY_MAX,
    DESCRIPTION_MAX,
    TAG_MAX,
    TAGS_PER_ARTICLE_MAX,
    TITLE_MAX,
)
from domain.comments import COMMENT_MAX
from domain.users import BIO_MAX, EMAIL_MAX, IMAGE_MAX, PASSWORD_MAX, USERNAME_MAX
from infrastructure.settings import Settings
from tests.api.conftest import assert_error, auth
from tests.fuzz.conftest import Snapshot, World, snapshot
from tests.routes import (
    MissingExample,
    Parameter,
    Route,
    api_routes,
    body_example,
    example_url,
    path_values,
    route_id,
    send_example,
)

MIB = 1024 * 1024


def _bare(annotation: Any) -> Any:
    """``str`` for ``Annotated[str, ...]``: the type under a schema's constraints."""
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _string_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The string fields of a request's inner object; ``tagList.0``: a list's first string."""
    fields = []
    for name, info in model.model_fields.items():
        annotation = _bare(info.annotation)
        union = get_origin(annotation) in (Union, UnionType)
        options = {_bare(option) for option in get_args(annotation)} if union else {annotation}
        if str in options:
            fields.append(name)
        elif any(get_origin(option) is list for option in options):
            fields.append(f"{name}.0")
    return tuple(fields)


# Login answers a malformed value as it answers wrong credentials (401), or 422 for the
# schema's limits; and it stores nothing.
CHECKS_CREDENTIALS = frozenset({"POST /api/users/login"})


@dataclass(frozen=True)
class Write:
    """A route that takes a body, with its example request (it succeeds); tests spoil one
    field of it."""

    route: Route

    @property
    def name(self) -> str:
        return str(self.route)

    @property
    def envelope(self) -> str:
        """The body's one top-level key: "user", "article", "comment"."""
        [envelope] = self._schema().model_fields
        return envelope

    @property
    def valid(self) -> dict[str, Any]:
        example = body_example(self.route)
        assert example is not None
        return dict(example[self.envelope])

    @property
    def fields(self) -> tuple[str, ...]:
        return _string_fields(self._inner())

    def optional(self, field: str) -> bool:
        return not self._inner().model_fields[field.split(".")[0]].is_required()

    @property
    def success(self) -> int:
        return self.route.success

    @property
    def as_alice(self) -> bool:
        return self.route.requires_caller

    @property
    def stores(self) -> bool:
        return self.name not in CHECKS_CREDENTIALS

    def path(self, world: World) -> str:
        return example_url(self.route, world)

    def body(self, **changes: Any) -> dict[str, Any]:
        fields = self.valid
        for name, value in changes.items():
            if name == "tagList.0":
                fields["tagList"] = [value, *fields["tagList"][1:]]
            else:
                fields[name] = value
        return {self.envelope: fields}

    def _schema(self) -> type[BaseModel]:
        assert self.route.body is not None
        return self.route.body

    def _inner(self) -> type[BaseModel]:
        annotation = self._schema().model_fields[self.envelope].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        return annotation


WRITES = [Write(route) for route in api_routes() if route.body is not None]
FIELDS = [(write, field) for write in WRITES for field in write.fields]


def _write(name: str) -> Write:
    [write] = [write for write in WRITES if write.name == name]
    return write


# The domain's limits (the schema allows an email 64 characters more, for surrounding spaces).
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
    if write.envelope == "comment":
        return COMMENT_MAX
    if field not in LIMITS:
        raise MissingExample(
            f"{write.name}: no length limit known for its field {field!r}; add the domain's "
            "limit to LIMITS in tests/fuzz/test_bad_input.py"
        )
    return LIMITS[field]


def _of_length(field: str, length: int, char: str = "a") -> str:
    """A value for ``field`` of ``length`` characters that breaks no other rule."""
    if field == "email":
        domain = "@example.com"
        return char * (length - len(domain)) + domain
    return char * length


def _id(value: Any) -> str:
    if isinstance(value, Write):
        return value.name
    if isinstance(value, Parameter):
        return value.name
    return route_id(value)


# -- helpers -----------------------------------------------------------------------------


def _headers(write: Write, world: World) -> dict[str, str]:
    return {"Content-Type": "application/json", **(world.headers if write.as_alice else {})}


def send(client: TestClient, write: Write, world: World, content: Any) -> httpx.Response:
    """Send raw ``content`` (JSON, unless a test spoils it) to ``write``'s endpoint."""
    headers = _headers(write, world)
    return client.request(write.route.method, write.path(world), content=content, headers=headers)


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
    return (401, 422) if write.name in CHECKS_CREDENTIALS else (422,)


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
        if write.stores
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
    register = _write("POST /api/users")
    value = "  " + _of_length("email", EMAIL_MAX + 1) + "  "

    response = send_json(client, register, world, register.body(email=value))

    assert_refused(response, 422)
    unchanged()


def test_more_tags_than_allowed_is_refused(
    client: TestClient, world: World, unchanged: Callable[[], None]
) -> None:
    create = _write("POST /api/articles")
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
            if value is None and write.optional(field):
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

# Out of range for any bounds an integer parameter declares, or not an integer at all.
INTEGERS = ["-1", "0", "1", str(-(2**63)), str(2**31), str(2**63), str(10**100)]
NOT_INTEGERS = ["1e3", "1.5", "NaN"]


def _out_of_range(route: Route, parameter: Parameter) -> list[str]:
    """What ``parameter`` must refuse: every candidate outside its declared bounds."""
    if parameter.ge is None or parameter.le is None:
        raise MissingExample(
            f"{route}: the integer parameter {parameter.name!r} declares no bounds; give it "
            "ge= and le= (Query or Path), as every id and page parameter has"
        )
    outside = [v for v in INTEGERS if not parameter.ge <= int(v) <= parameter.le]
    return outside + NOT_INTEGERS


def _parameters(kind: str, test: Callable[[Parameter], bool]) -> list[tuple[Route, Parameter]]:
    return [
        (route, parameter)
        for route in api_routes()
        for parameter in getattr(route, kind)
        if test(parameter)
    ]


INT_QUERIES = _parameters("query_params", lambda parameter: parameter.is_int)
INT_PATHS = _parameters("path_params", lambda parameter: parameter.is_int)
STR_QUERIES = _parameters("query_params", lambda parameter: parameter.is_str)
STR_PATHS = _parameters("path_params", lambda parameter: parameter.is_str)


@pytest.mark.parametrize(("route", "parameter"), INT_QUERIES, ids=_id)
def test_an_out_of_range_integer_in_the_query_is_refused(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    route: Route,
    parameter: Parameter,
) -> None:
    for value in [*_out_of_range(route, parameter), ""]:
        response = send_example(client, route, world, params={parameter.name: value})

        assert_refused(response, 422, what=value)
    unchanged()


@pytest.mark.parametrize(("route", "parameter"), INT_PATHS, ids=_id)
def test_an_out_of_range_integer_in_the_path_is_refused_and_writes_nothing(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    route: Route,
    parameter: Parameter,
) -> None:
    # The other path parameters name what Alice may act on (her comment, for instance).
    for value in _out_of_range(route, parameter):
        response = send_example(client, route, world, **{parameter.name: value})

        assert_refused(response, 422, what=value)
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


def _bound(route: Route, parameter: Parameter) -> int:
    if parameter.max_length is None:
        raise MissingExample(
            f"{route}: the string parameter {parameter.name!r} declares no max_length; give "
            "it one (api.params), as every slug, name and search term has"
        )
    return parameter.max_length


@pytest.mark.parametrize(("route", "parameter"), STR_QUERIES, ids=_id)
def test_a_query_string_with_a_nul_byte_or_over_its_limit_is_refused(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    route: Route,
    parameter: Parameter,
) -> None:
    over = _bound(route, parameter) + 1
    for value in ["\x00", "a\x00b", "%\x00", "%" * over, "a" * over]:
        response = send_example(client, route, world, params={parameter.name: value})

        assert_refused(response, 422, what=value)
    unchanged()


# -- path parameters -----------------------------------------------------------------------
# Each string in a path, in turn; the other parameters name what Alice may act on.


def _named(route: Route, world: World, parameter: Parameter) -> str:
    """What the example puts in ``parameter``: a name that exists."""
    return str(path_values(route, world)[parameter.name])


@pytest.mark.parametrize(("route", "parameter"), STR_PATHS, ids=_id)
def test_a_path_with_metacharacters_names_nothing_and_writes_nothing(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    route: Route,
    parameter: Parameter,
) -> None:
    for value in HOSTILE:
        raw = quote(value, safe="")

        response = send_example(client, route, world, **{parameter.name: raw})

        assert_refused(response, 404, what=value)
    unchanged()


@pytest.mark.parametrize(("route", "parameter"), STR_PATHS, ids=_id)
def test_a_path_with_a_nul_byte_or_over_its_limit_is_refused(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    route: Route,
    parameter: Parameter,
) -> None:
    over = _bound(route, parameter) + 1
    name = _named(route, world, parameter)
    for value in [f"{name}\x00", f"\x00{name}", "a" * over, "%" * over]:
        raw = quote(value, safe="")

        response = send_example(client, route, world, **{parameter.name: raw})

        assert_refused(response, 422, what=value)
    unchanged()


@pytest.mark.parametrize(("route", "parameter"), STR_PATHS, ids=_id)
def test_a_path_that_is_not_utf8_names_nothing(
    client: TestClient,
    world: World,
    unchanged: Callable[[], None],
    route: Route,
    parameter: Parameter,
) -> None:
    name = _named(route, world, parameter)
    for raw in ["%FF", "%C3%28", "%ED%A0%80", "%C0%AF", f"{name}%FF", f"{name}%ED%A0%80"]:
        response = send_example(client, route, world, **{parameter.name: raw})

        assert_refused(response, 404, what=raw)
    unchanged()


@pytest.mark.parametrize("value", ["' OR 1=1 --", "\"'; DROP TABLE articles; --", "%", "_\\"])
def test_metacharacters_in_a_title_are_stored_verbatim(
    client: TestClient, world: World, value: str
) -> None:
    create = _write("POST /api/articles")

    response = send_json(client, create, world, create.body(title=value, body=value))

    assert response.status_code == 201, response.text
    slug = response.json()["article"]["slug"]
    stored = client.get(f"/api/articles/{quote(slug, safe='')}").json()["article"]
    assert (stored["title"], stored["body"]) == (value, value)
    assert client.get("/api/tags").status_code == 200
