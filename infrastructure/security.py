"""Password hashing (argon2id) and tokens (JWT, HS256): adapters for the application's ports."""

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError

from application.errors import NotAuthenticated


class Argon2PasswordHasher:
    def __init__(self, time_cost: int = 3, memory_cost_kib: int = 65536, parallelism: int = 4):
        self._argon2 = _Argon2(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class JwtTokenService:
    """Signed, expiring tokens that carry the user id as ``sub``.

    Checked tokens are remembered (bounded, keyed by the token string itself), so a client's
    token is verified once, not on every request. This cannot serve anything stale: a token
    string always means the same user, and its expiry is checked again on every use.
    """

    _ALGORITHM = "HS256"

    def __init__(self, secret: str, ttl_seconds: int, cache_size: int = 4096) -> None:
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_seconds)
        self._claims = lru_cache(maxsize=cache_size)(self._decode)

    def issue(self, user_id: int) -> str:
        now = datetime.now(UTC)
        claims = {"sub": str(user_id), "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=self._ALGORITHM)

    def verify(self, token: str) -> int:
        user_id, expires_at = self._claims(token)
        if expires_at <= time.time():
            raise NotAuthenticated("token is invalid or expired")
        return user_id

    def _decode(self, token: str) -> tuple[int, float]:
        """(user id, expiry) of a well-signed token; raises (and so caches nothing) otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._ALGORITHM],
                options={"require": ["sub", "exp"]},
            )
            return int(claims["sub"]), float(claims["exp"])
        except (jwt.InvalidTokenError, ValueError) as error:
            raise NotAuthenticated("token is invalid or expired") from error
