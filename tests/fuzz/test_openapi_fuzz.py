"""Fuzzing the API against its own OpenAPI document (schemathesis, in process).

Every operation of ``create_app(...).openapi()`` gets requests that schemathesis derives from
the document: valid ones and invalid ones (wrong types, too long, missing fields, NUL bytes,
out-of-range integers), in its examples, coverage (boundary values) and fuzzing phases. Each
goes through the real app on the test database (SQLite and PostgreSQL) as ``alice``, with her
token, so the protected operations are exercised too; path parameters sometimes name things
that exist (her article, Bob's article, their comments), so bodies reach the use cases.

Every response must:
- not be a server error;
- have a status the served document declares for the operation, with the content type,
  headers and body it declares (the document is checked as it is served, strictly: no
  status is added to it here);
- be a 4xx when the request broke the document (negative data is rejected: the document
  states every rule the server holds values to);
- when the operation requires a token, and answered 2xx with alice's, be refused without
  one and with an invalid one (operations that also answer anonymously say so: an empty
  security requirement);
- for a method the path does not have, be a 405 whose ``Allow`` names the methods it has;
- and when it is a 4xx, leave every table exactly as it was.

Deterministic: a fixed seed, derandomized hypothesis, no example database, and a bounded
number of examples per operation.
"""

import os
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlalchemy import Engine

from tests.fuzz.conftest import World, served_document, snapshot

# Examples per operation in the fuzzing phase (the coverage phase adds its boundary cases).
# Small enough for CI on both databases; FUZZ_MAX_EXAMPLES=500 for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20240917,
        "generation": {
            "mode": "all",  # valid and invalid requests
            "deterministic": True,
            "database": "none",
            "allow-x00": True,  # NUL bytes in strings
            "with-security-parameters": False,  # the test sends alice's token
            "max-examples": MAX_EXAMPLES,
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
        },
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "413", "422"]
            }
        },
    }
)

schema = schemathesis.openapi.from_dict(served_document(), config=CONFIG)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
    unsupported_method,
    allow_header_conformance,
]


def send(client: TestClient, case: schemathesis.Case, headers: dict[str, str]) -> httpx.Response:
    """Send ``case`` through the test client (one app, one lifespan, the test's database)."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    assert not kwargs.pop("cookies", None), "the document declares no cookies"
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    return client.request(**kwargs)


# Path parameters that name what ``world`` seeds: valid random slugs and names are almost
# never taken, and a 404 stops a request before its body reaches the use case.
EXISTING: dict[str, tuple[Any, ...]] = {
    "slug": ("alice-writes", "bob-writes"),
    "username": ("alice", "bob"),
    "comment_id": (1, 2),
}
# Emails and usernames as people write them: the document's patterns give valid ones, but
# mostly of exotic characters; these reach the database as a plain registration does.
EMAILS = st.from_regex(r"\A[a-z0-9][a-z0-9._+-]{0,30}@example\.(com|org)\Z")
USERNAMES = st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z")


@schema.hook
def flatmap_case(_context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    """About half of the valid requests name things that exist, or register a valid account."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return st.just(case)
    if case.path_parameters:
        names = [name for name in case.path_parameters if name in EXISTING]
        existing = st.fixed_dictionaries({name: st.sampled_from(EXISTING[name]) for name in names})
        return st.one_of(st.just(case), existing.map(lambda values: _with_path(case, values)))
    if case.method == "POST" and case.path == "/api/users":
        account = st.fixed_dictionaries({"email": EMAILS, "username": USERNAMES})
        return st.one_of(st.just(case), account.map(lambda values: _with_user(case, values)))
    return st.just(case)


def _with_path(case: schemathesis.Case, values: dict[str, Any]) -> schemathesis.Case:
    derived = case.derive(keep_auth=True)
    derived.path_parameters.update(values)
    return derived


def _with_user(case: schemathesis.Case, values: dict[str, str]) -> schemathesis.Case:
    derived = case.derive(keep_auth=True)
    derived.body = {**case.body, "user": {**case.body["user"], **values}}
    return derived


@pytest.fixture
def seeded(world: World) -> World:
    """``world``, with the names ``EXISTING`` assumes."""
    assert world.path_values == {name: list(values) for name, values in EXISTING.items()}
    return world


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_own_contract(
    case: schemathesis.Case, client: TestClient, seeded: World, engine: Engine
) -> None:
    before = snapshot(engine)

    response = send(client, case, seeded.headers)

    # The auth checks send the request again without the token and with an invalid one:
    # through the same app, on the test's database.
    case.operation.schema.app = client.app
    case.validate_response(
        response, checks=CHECKS, headers=seeded.headers, transport_kwargs={"app": client.app}
    )
    if response.status_code >= 400:
        assert snapshot(engine) == before, f"{response.status_code} but data changed"


def test_the_fuzzed_document_is_the_served_one(client: TestClient) -> None:
    served = client.get("/openapi.json").json()

    assert served == served_document()
