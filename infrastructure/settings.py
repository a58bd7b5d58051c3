"""Configuration from the environment (and an optional ``.env`` file)."""

import os
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infrastructure.backend import Backend, backend_of

# Secrets that were ever in this repository: anyone can sign tokens with them, so they are
# refused like no secret at all (the first was the built-in default of earlier versions).
PUBLISHED_JWT_SECRETS = frozenset({"insecure-development-secret-change-me-in-production"})
# HS256 keys shorter than the hash (32 bytes) weaken it; RFC 7518 section 3.2 requires this.
JWT_SECRET_MIN_LENGTH = 32


class Serving(StrEnum):
    """How the API runs its use cases (``api.serving``)."""

    THREAD = "thread"  # in the threadpool, on psycopg (or SQLite)
    BRIDGE = "bridge"  # on the event loop through SQLAlchemy's greenlet bridge, on asyncpg


# What SERVING=auto means on PostgreSQL: the bridge, measured faster on every scenario
# (README, "Serving path"; `make bench BENCH_ARGS="--serving thread,bridge"` measures both);
# but behind a pooler in transaction mode (DB_PREPARED_STATEMENTS=false) the threadpool,
# measured faster there (the bridge 0.69-0.86x: asyncpg must read in transactions and
# prepare each statement anew, infrastructure.engine; psycopg reads in autocommit).
SERVING_ON_POSTGRESQL = Serving.BRIDGE
SERVING_BEHIND_A_POOLER = Serving.THREAD


class Settings(BaseSettings):
    """Every setting is an environment variable of the same name in upper case."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./conduit.db"
    # No default: each installation has its own (`conduit ensure-secret` writes one to .env).
    jwt_secret: str = ""
    jwt_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)

    # Connection pool (PostgreSQL; SQLite keeps one connection per thread).
    pool_size: int = Field(default=10, ge=1)
    pool_max_overflow: int = Field(default=0, ge=0)
    pool_timeout: float = Field(default=2.0, gt=0)
    pool_recycle_seconds: int = Field(default=1800, ge=-1)
    pool_pre_ping: bool = True
    # Ping only connections idle in the pool longer than this (0: before every use).
    pool_ping_idle_seconds: float = Field(default=1.0, ge=0)
    connect_timeout_seconds: int = Field(default=3, ge=1)
    statement_timeout_ms: int = Field(default=5000, ge=0)
    lock_timeout_ms: int = Field(default=3000, ge=0)
    idle_in_transaction_timeout_ms: int = Field(default=10000, ge=0)
    # Server-side prepared statements kept across uses (psycopg's automatic ones, asyncpg's
    # cache); off behind PgBouncer (transaction mode).
    db_prepared_statements: bool = True
    # How use cases run: "thread" (threadpool), "bridge" (event loop, asyncpg; PostgreSQL
    # only), or "auto": the default path for the database at DATABASE_URL.
    serving: Literal["auto", "thread", "bridge"] = "auto"
    # Read replicas (PostgreSQL): comma-separated URLs; read-only units of work run there
    # (infrastructure.replicas). Nobody reads more than the lag bound behind the primary, and
    # a client's own writes are always visible to it.
    database_replica_urls: str = ""
    # How many hosts serve with these settings against the same servers: the start-up check
    # (infrastructure.connection_budget) counts every host's workers, not only its own.
    api_hosts: int = Field(default=1, ge=1)
    replica_max_lag_seconds: float = Field(default=5.0, ge=0.5)
    replica_check_seconds: float = Field(default=1.0, gt=0)

    # HTTP
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The transport (api.transport), per worker process: what a slow, idle or oversized
    # client may hold. The request line and headers must arrive within the header timeout,
    # the body within the body timeout after them (else 408 and the connection is closed).
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    keepalive_timeout_seconds: float = Field(default=5.0, gt=0)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)  # line + headers; over: 431
    # Open per worker; beyond it the one idle longest is closed (503 if none is idle).
    max_connections: int = Field(default=1000, ge=1)
    # Admission (api.middleware): how long a request waits for a slot once its body is in.
    admission_timeout_seconds: float = Field(default=10.0, gt=0)
    # Requests that hash a password at once per worker; 0: CPUs / ARGON2_PARALLELISM.
    password_hashing_concurrency: int = Field(default=0, ge=0)
    cors_origins: list[str] = []  # e.g. CORS_ORIGINS='["https://app.example.com"]'
    log_requests: bool = True  # one structured log line per request

    # Abuse limits (429 + Retry-After). Far above what people behind one address, the
    # official collection or a frontend do; a guessing or flooding client meets them.
    login_failures_per_account: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    auth_requests_per_address_per_minute: int = Field(default=120, ge=0)  # 0: no limit
    # Where the counts live: memory:// (each process its own), or e.g. redis://host:6379
    # to share them between processes and hosts (needs the redis package: limits[redis]).
    rate_limit_storage_url: str = "memory://"

    # /metrics on the API port answers only `Authorization: Bearer <this>`; unset: 404.
    metrics_token: str | None = Field(default=None, min_length=16)

    # SQLite
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)

    # Password hashing (argon2id); the defaults are argon2-cffi's RFC 9106 "low memory" profile.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def serving_path(self) -> Serving:
        """The serving path ``SERVING`` names, ``auto`` resolved for the database."""
        on_sqlite = backend_of(self.database_url) is Backend.SQLITE
        if self.serving == "auto":
            if on_sqlite:
                return Serving.THREAD
            return SERVING_ON_POSTGRESQL if self.db_prepared_statements else SERVING_BEHIND_A_POOLER
        if self.serving == "bridge" and on_sqlite:
            raise ValueError("SERVING=bridge needs PostgreSQL (asyncpg); SQLite serves in threads")
        return Serving(self.serving)

    @property
    def replica_urls(self) -> list[str]:
        return [url.strip() for url in self.database_replica_urls.split(",") if url.strip()]

    @property
    def password_hashing_slots(self) -> int:
        """``PASSWORD_HASHING_CONCURRENCY``, or as many hashes as the CPUs run at once:
        argon2 runs each hash on ``ARGON2_PARALLELISM`` threads of its own."""
        if self.password_hashing_concurrency:
            return self.password_hashing_concurrency
        return max(1, _usable_cpus() // self.argon2_parallelism)

    @property
    def password_lane_slots(self) -> int:
        """Requests that may hash a password admitted at once: a few per hashing slot. They
        wait for the hasher (``BoundedHasher``), not at the door, so one the per-account
        limit refuses, or an update that changes no password, is answered at once."""
        return 4 * self.password_hashing_slots

    def insecure_for_serving(self) -> str | None:
        """Why the service must not serve with these settings, if so (checked at start).

        The same on every database: a token forged with a known secret opens any account.
        """
        how = (
            "set JWT_SECRET to a random secret of your own, e.g. with `conduit ensure-secret`"
            " (writes one to .env; `make run` does it for you)"
        )
        if not self.jwt_secret:
            return f"JWT_SECRET is not set: {how}"
        if self.jwt_secret in PUBLISHED_JWT_SECRETS:
            return f"JWT_SECRET is a published development secret anyone can sign with: {how}"
        if len(self.jwt_secret) < JWT_SECRET_MIN_LENGTH:
            return f"JWT_SECRET is shorter than {JWT_SECRET_MIN_LENGTH} characters: {how}"
        return None


def _usable_cpus() -> int:
    """The CPUs this process may run on (a container's or taskset's share, on Linux)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
