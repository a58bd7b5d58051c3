"""Failed logins per account and login + registration per client address: 429 + Retry-After.

The suite's own app has generous limits (tests.conftest.settings_for); these tests set small
ones with windows far longer than a test, so no outcome depends on time passing.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.app import create_app
from api.container import Container
from infrastructure.security import BoundedHasher
from infrastructure.settings import Settings
from tests.api.conftest import assert_error
from tests.fakes import GatedHasher

Limited = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def limited(container: Container, settings: Settings) -> Limited:
    """A client of the app with some limits changed; ``address`` is the client's address."""

    @contextmanager
    def limited(address: str = "198.51.100.7", **limits: Any) -> Iterator[TestClient]:
        container.settings.override(providers.Object(settings.model_copy(update=limits)))
        app = create_app(container)
        with TestClient(app, raise_server_exceptions=False, client=(address, 40000)) as client:
            yield client

    return limited


def _register(client: TestClient, name: str) -> int:
    user = {"username": name, "email": f"{name}@example.com", "password": f"{name}-secret"}
    return client.post("/api/users", json={"user": user}).status_code


def _login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/users/login", json={"user": {"email": email, "password": password}})


def _assert_too_many(response: Any, longest: int) -> None:
    assert_error(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= longest


def test_the_defaults_are_what_an_office_behind_one_address_never_reaches() -> None:
    defaults = Settings(_env_file=None)
    assert defaults.login_failures_per_account == 10
    assert defaults.login_failure_window_seconds == 15 * 60
    assert defaults.auth_requests_per_address_per_minute == 120
    assert defaults.rate_limit_storage_url == "memory://"


def test_failed_logins_beyond_the_limit_lock_the_account(limited: Limited) -> None:
    with limited(login_failures_per_account=2, login_failure_window_seconds=3600) as client:
        assert _register(client, "alice") == 201
        assert _register(client, "bob") == 201
        for _ in range(2):
            assert_error(_login(client, "alice@example.com", "wrong"), 401)

        _assert_too_many(_login(client, "alice@example.com", "wrong"), 3600)
        _assert_too_many(_login(client, "alice@example.com", "alice-secret"), 3600)
        assert _login(client, "bob@example.com", "bob-secret").status_code == 200


def test_an_unknown_email_is_locked_like_a_known_one(limited: Limited) -> None:
    with limited(login_failures_per_account=2, login_failure_window_seconds=3600) as client:
        for _ in range(2):
            assert_error(_login(client, "nobody@example.com", "wrong"), 401)

        _assert_too_many(_login(client, "nobody@example.com", "wrong"), 3600)


def test_a_successful_login_does_not_count_as_a_failure(limited: Limited) -> None:
    with limited(login_failures_per_account=2, login_failure_window_seconds=3600) as client:
        assert _register(client, "alice") == 201
        for _ in range(5):
            assert _login(client, "alice@example.com", "alice-secret").status_code == 200
        assert_error(_login(client, "alice@example.com", "wrong"), 401)
        assert _login(client, "alice@example.com", "alice-secret").status_code == 200

        assert_error(_login(client, "alice@example.com", "wrong"), 401)
        assert_error(_login(client, "alice@example.com", "wrong"), 401)


def test_logins_and_registrations_beyond_the_limit_per_address_get_429(limited: Limited) -> None:
    with limited(auth_requests_per_address_per_minute=3) as client:
        assert _register(client, "alice") == 201
        assert_error(_login(client, "alice@example.com", "wrong"), 401)
        assert _login(client, "alice@example.com", "alice-secret").status_code == 200

        _assert_too_many(_login(client, "alice@example.com", "alice-secret"), 60)
        _assert_too_many(client.post("/api/users", json={"user": {}}), 60)
        # Everything else is not limited per address.
        assert client.get("/api/tags").status_code == 200
        assert client.get("/api/users/login").status_code == 405


def test_the_limit_per_address_counts_each_address_on_its_own(limited: Limited) -> None:
    with limited(address="198.51.100.7", auth_requests_per_address_per_minute=1) as client:
        assert _register(client, "alice") == 201
        _assert_too_many(_login(client, "alice@example.com", "alice-secret"), 60)
        app = client.app
    # One client of the app at a time: each runs the app on an event loop of its own, and on
    # the bridge the pool's connections belong to the loop that opened them.
    with TestClient(app, client=("203.0.113.9", 40000)) as other:
        assert _login(other, "alice@example.com", "alice-secret").status_code == 200
    with TestClient(app, client=("198.51.100.7", 40000)) as first_again:
        _assert_too_many(_login(first_again, "alice@example.com", "alice-secret"), 60)


def test_zero_turns_the_limit_per_address_off(limited: Limited) -> None:
    with limited(auth_requests_per_address_per_minute=0) as client:
        statuses = {_login(client, f"user{n}@example.com", "x").status_code for n in range(30)}
    assert statuses == {401}


def test_behind_a_trusted_proxy_each_forwarded_address_counts_on_its_own(
    container: Container, settings: Settings
) -> None:
    # What `conduit serve` runs: uvicorn's proxy headers, trusting FORWARDED_ALLOW_IPS.
    container.settings.override(
        providers.Object(settings.model_copy(update={"auth_requests_per_address_per_minute": 1}))
    )
    app = ProxyHeadersMiddleware(create_app(container), trusted_hosts="127.0.0.1")
    with TestClient(app, client=("127.0.0.1", 40000)) as proxy:

        def login(forwarded_for: str) -> int:
            payload = {"user": {"email": "a@example.com", "password": "x"}}
            headers = {"X-Forwarded-For": forwarded_for}
            return proxy.post("/api/users/login", json=payload, headers=headers).status_code

        assert login("198.51.100.1") == 401
        assert login("198.51.100.1") == 429
        assert login("198.51.100.2") == 401
        # A client cannot pose as another by adding its own X-Forwarded-For entry.
        assert login("198.51.100.2, 198.51.100.1") == 429


def test_ipv6_addresses_count_by_their_64_bit_prefix(limited: Limited) -> None:
    # One host is given a whole /64: counting each address would give it 2**64 allowances.
    with limited(address="2001:db8:1:2::1", auth_requests_per_address_per_minute=1) as client:
        assert_error(_login(client, "a@example.com", "x"), 401)
        app = client.app
        with TestClient(app, client=("2001:db8:1:2:ffff::9", 40000)) as same_network:
            _assert_too_many(_login(same_network, "a@example.com", "x"), 60)
        with TestClient(app, client=("2001:db8:1:3::1", 40000)) as next_network:
            assert_error(_login(next_network, "a@example.com", "x"), 401)


def test_a_login_the_limit_refuses_does_not_wait_behind_a_hash(
    limited: Limited, container: Container
) -> None:
    """A flood of logins on a locked account is answered 429 at once, however long the
    hashes of the logins still allowed take: they wait for the hasher, not at the door."""
    hasher = GatedHasher()
    container.hasher.override(providers.Object(BoundedHasher(hasher, concurrency=1)))
    with limited(
        login_failures_per_account=1,
        login_failure_window_seconds=3600,
        password_hashing_concurrency=1,
        admission_timeout_seconds=3,  # a 503 here would be the failure this test is about
    ) as client:
        assert _register(client, "alice") == 201
        assert_error(_login(client, "alice@example.com", "wrong"), 401)  # alice is locked
        hasher.waiting.acquire()  # (that login's verification)
        hasher.gate.clear()
        with ThreadPoolExecutor(max_workers=1) as pool:
            hashing = pool.submit(_login, client, "nobody@example.com", "wrong")
            hasher.waiting.acquire()  # ... now 'nobody' holds the hasher, until the gate opens
            try:
                _assert_too_many(_login(client, "alice@example.com", "wrong"), 3600)
            finally:
                hasher.gate.set()
            assert_error(hashing.result(), 401)
