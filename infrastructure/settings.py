"""Configuration from the environment (and an optional ``.env`` file)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets that were ever in this repository: anyone can sign tokens with them, so they are
# refused like no secret at all (the first was the built-in default of earlier versions).
PUBLISHED_JWT_SECRETS = frozenset({"insecure-development-secret-change-me-in-production"})
# HS256 keys shorter than the hash (32 bytes) weaken it; RFC 7518 section 3.2 requires this.
JWT_SECRET_MIN_LENGTH = 32


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
    # psycopg's automatic server-side prepared statements; off behind PgBouncer (transaction mode).
    db_prepared_statements: bool = True

    # HTTP
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    cors_origins: list[str] = []  # e.g. CORS_ORIGINS='["https://app.example.com"]'
    log_requests: bool = True  # one structured log line per request

    # SQLite
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)

    # Password hashing (argon2id); the defaults are argon2-cffi's RFC 9106 "low memory" profile.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

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
