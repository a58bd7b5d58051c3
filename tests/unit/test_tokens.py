"""JWT tokens: what they carry, when they stop counting, and that remembering them is safe."""

import time

import jwt
import pytest

from application.caller import Caller
from application.errors import NotAuthenticated
from infrastructure.security import JwtTokenService

SECRET = "a-secret-that-is-long-enough-for-hs256-signing"


def test_a_token_carries_its_user():
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    assert tokens.verify(tokens.issue(Caller(42, 0))).user_id == 42


def test_a_token_signed_with_another_secret_is_refused():
    other = JwtTokenService("another-secret-that-is-also-long-enough-x", ttl_seconds=60)
    with pytest.raises(NotAuthenticated):
        JwtTokenService(SECRET, ttl_seconds=60).verify(other.issue(Caller(42, 0)))


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "Token abc"])
def test_garbage_is_refused(garbage):
    with pytest.raises(NotAuthenticated):
        JwtTokenService(SECRET, ttl_seconds=60).verify(garbage)


def test_a_remembered_token_still_expires():
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    soon = jwt.encode({"sub": "7", "exp": time.time() + 1.0}, SECRET, algorithm="HS256")
    assert tokens.verify(soon).user_id == 7  # now remembered
    time.sleep(1.1)
    with pytest.raises(NotAuthenticated):
        tokens.verify(soon)


def test_an_expired_token_is_refused_and_not_remembered():
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    expired = jwt.encode({"sub": "7", "exp": time.time() - 1}, SECRET, algorithm="HS256")
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            tokens.verify(expired)


def test_a_token_without_expiry_is_refused():
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    with pytest.raises(NotAuthenticated):
        tokens.verify(jwt.encode({"sub": "7"}, SECRET, algorithm="HS256"))


def _signed(claims: dict[str, object]) -> str:
    return jwt.encode({"exp": time.time() + 60, **claims}, SECRET, algorithm="HS256")


@pytest.mark.parametrize("ahead", [1, 29])
def test_a_token_from_a_clock_up_to_30_seconds_ahead_is_accepted(ahead: int) -> None:
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    now = time.time()
    token = _signed({"sub": "7", "iat": now + ahead, "nbf": now + ahead})
    assert tokens.verify(token).user_id == 7


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_from_further_in_the_future_is_refused(claim: str) -> None:
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    with pytest.raises(NotAuthenticated):
        tokens.verify(_signed({"sub": "7", claim: time.time() + 300}))


@pytest.mark.parametrize(
    "sub",
    ["0", "-1", "2147483648", "99999999999999999999", "1e3", " 1", "01", "\u0661", "", "x"],
)
def test_a_signed_token_whose_subject_is_not_a_user_id_is_refused(sub: str) -> None:
    with pytest.raises(NotAuthenticated):
        JwtTokenService(SECRET, ttl_seconds=60).verify(_signed({"sub": sub}))


def test_the_largest_user_id_is_a_subject() -> None:
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    assert tokens.verify(_signed({"sub": "2147483647"})).user_id == 2147483647


def test_a_token_carries_the_session_generation_it_was_issued_in() -> None:
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    assert tokens.verify(tokens.issue(Caller(42, token_generation=3))) == Caller(42, 3)


def test_a_token_from_before_session_generations_is_of_the_first_generation() -> None:
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    assert tokens.verify(_signed({"sub": "7"})) == Caller(7, 0)


@pytest.mark.parametrize("generation", [-1, "1", 1.5, True, 2**31])
def test_a_token_with_a_malformed_generation_is_refused(generation: object) -> None:
    with pytest.raises(NotAuthenticated):
        JwtTokenService(SECRET, ttl_seconds=60).verify(_signed({"sub": "7", "gen": generation}))
