"""JWT tokens: what they carry, when they stop counting, and that remembering them is safe."""

import time

import jwt
import pytest

from application.errors import NotAuthenticated
from infrastructure.security import JwtTokenService

SECRET = "a-secret-that-is-long-enough-for-hs256-signing"


def test_a_token_carries_its_user():
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    assert tokens.verify(tokens.issue(42)) == 42


def test_a_token_signed_with_another_secret_is_refused():
    other = JwtTokenService("another-secret-that-is-also-long-enough-x", ttl_seconds=60)
    with pytest.raises(NotAuthenticated):
        JwtTokenService(SECRET, ttl_seconds=60).verify(other.issue(42))


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "Token abc"])
def test_garbage_is_refused(garbage):
    with pytest.raises(NotAuthenticated):
        JwtTokenService(SECRET, ttl_seconds=60).verify(garbage)


def test_a_remembered_token_still_expires():
    tokens = JwtTokenService(SECRET, ttl_seconds=60)
    soon = jwt.encode({"sub": "7", "exp": time.time() + 1.0}, SECRET, algorithm="HS256")
    assert tokens.verify(soon) == 7  # now remembered
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
