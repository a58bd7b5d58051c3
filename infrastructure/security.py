"""Password hashing (argon2id) and tokens (JWT, HS256): adapters for the application's ports."""

from datetime import UTC, datetime, timedelta

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
    """Signed, expiring tokens that carry the user id as ``sub``."""

    _ALGORITHM = "HS256"

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_seconds)

    def issue(self, user_id: int) -> str:
        now = datetime.now(UTC)
        claims = {"sub": str(user_id), "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=self._ALGORITHM)

    def verify(self, token: str) -> int:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._ALGORITHM],
                options={"require": ["sub", "exp"]},
            )
            return int(claims["sub"])
        except (jwt.InvalidTokenError, ValueError) as error:
            raise NotAuthenticated("token is invalid or expired") from error
