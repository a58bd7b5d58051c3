"""Password hashing (argon2id) and tokens (JWT, HS256): adapters for the application's ports."""

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError

from application.caller import Caller
from application.errors import NotAuthenticated
from application.ports import PasswordHasher
from domain import messages
from infrastructure.blocking import off_the_loop


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


class BoundedHasher:
    """A password hasher that runs at most ``concurrency`` hashes at once, on threads of its
    own; the rest wait their turn, first come first served.

    Hashing is CPU work (argon2 runs each hash on ``parallelism`` threads of its own):
    more at once only makes each slower and takes the CPU the rest of the API needs. The
    requests that hash are admitted to a lane of their own, wider than this bound
    (``api.middleware.Admission``), so they wait here, holding no database slot, and a
    login the per-account limit refuses is answered without waiting behind the hashes.

    Never on the event loop: a use case that runs on the loop (the greenlet bridge,
    ``api.serving``) awaits the hash there, and the loop serves other requests meanwhile; one
    on a thread of the threadpool waits for it on that thread.
    """

    def __init__(self, hasher: PasswordHasher, concurrency: int) -> None:
        self._hasher = hasher
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="password-hashing")

    def hash(self, password: str) -> str:
        return off_the_loop(self._threads, self._hasher.hash, password)

    def verify(self, password_hash: str, password: str) -> bool:
        return off_the_loop(self._threads, self._hasher.verify, password_hash, password)


class JwtTokenService:
    """Signed, expiring tokens that carry the user id as ``sub`` and the account's session
    generation as ``gen`` (absent in tokens issued before generations existed: generation 0).

    Checked tokens are remembered (bounded, keyed by the token string itself), so a client's
    token is verified once, not on every request. This cannot serve anything stale: a token
    string always means the same caller, and its expiry is checked again on every use.
    Whether that caller's account still exists, in that generation, is checked by the use
    case, in the statement that reads the account anyway.
    """

    _ALGORITHM = "HS256"
    # Another host's clock may run a little ahead of ours: its fresh tokens are not refused.
    CLOCK_LEEWAY_SECONDS = 30
    _LARGEST_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
    _USER_ID = re.compile(r"[1-9][0-9]{0,9}")  # canonical decimal: one string per user

    def __init__(self, secret: str, ttl_seconds: int, cache_size: int = 4096) -> None:
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_seconds)
        self._claims = lru_cache(maxsize=cache_size)(self._decode)

    def issue(self, caller: Caller) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(caller.user_id),
            "gen": caller.token_generation,
            "iat": now,
            "exp": now + self._ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=self._ALGORITHM)

    def verify(self, token: str) -> Caller:
        caller, expires_at = self._claims(token)
        if expires_at <= time.time():
            raise NotAuthenticated(messages.TOKEN_INVALID)
        return caller

    def _decode(self, token: str) -> tuple[Caller, float]:
        """(caller, expiry) of a well-signed token; raises (and so caches nothing) otherwise.

        The expiry is checked without leeway (here and on every use), the issue and
        not-before times with ``CLOCK_LEEWAY_SECONDS``.
        """
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._ALGORITHM],
                options={"require": ["sub", "exp"]},
                leeway=self.CLOCK_LEEWAY_SECONDS,
            )
        except jwt.InvalidTokenError as error:
            raise NotAuthenticated(messages.TOKEN_INVALID) from error
        subject, generation = claims["sub"], claims.get("gen", 0)
        if (
            not isinstance(subject, str)
            or not self._USER_ID.fullmatch(subject)
            or int(subject) > self._LARGEST_ID
            or type(generation) is not int  # not bool, not float
            or not 0 <= generation <= self._LARGEST_ID
        ):
            raise NotAuthenticated(messages.TOKEN_INVALID)
        # PyJWT let the expiry have the leeway too; verify() checks it exactly, on every use.
        return Caller(int(subject), generation), float(claims["exp"])
