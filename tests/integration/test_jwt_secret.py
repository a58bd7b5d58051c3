"""No default secret anywhere (issue 9, finding 2): a token forged with a secret from the
source must never be accepted, on any database. ``make run`` still works out of the box:
``conduit ensure-secret`` writes a random secret to ``.env`` on first run."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dependency_injector import providers

from api.app import create_app
from api.container import Container
from infrastructure.settings import Settings
from tests.conftest import ROOT, TEST_JWT_SECRET

# What earlier versions used when JWT_SECRET was not set: it is in the repository's history.
PUBLISHED_SECRET = "insecure-development-secret-change-me-in-production"
SQLITE = "sqlite:///./conduit.db"


@pytest.fixture
def no_secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)


@pytest.mark.usefixtures("no_secret_in_environment")
@pytest.mark.parametrize("database_url", [SQLITE, "postgresql+psycopg://u@h/db"])
@pytest.mark.parametrize("secret", [None, "", PUBLISHED_SECRET, "short-secret"])
def test_serving_without_a_secret_of_ones_own_is_refused_on_every_database(
    database_url: str, secret: str | None
) -> None:
    given = {} if secret is None else {"jwt_secret": secret}
    settings = Settings(database_url=database_url, _env_file=None, **given)  # type: ignore[call-arg]

    problem = settings.insecure_for_serving()

    assert problem is not None and "JWT_SECRET" in problem
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        create_app(Container(settings=providers.Object(settings)))


def test_a_long_random_secret_is_accepted() -> None:
    settings = Settings(database_url=SQLITE, jwt_secret=TEST_JWT_SECRET, _env_file=None)  # type: ignore[call-arg]
    assert settings.insecure_for_serving() is None


def _conduit(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "DATABASE_URL")}
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd, env={**environment, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_serve_refuses_to_start_on_sqlite_without_a_secret(tmp_path: Path) -> None:
    done = _conduit("serve", "--port", "1", cwd=tmp_path)

    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "JWT_SECRET" in done.stderr
    assert "make run" in done.stderr or "ensure-secret" in done.stderr


def test_ensure_secret_writes_a_random_secret_to_dot_env_once(tmp_path: Path) -> None:
    first = _conduit("ensure-secret", cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    env_file = tmp_path / ".env"
    assert "JWT_SECRET" in first.stdout and ".env" in first.stdout
    (line,) = env_file.read_text().splitlines()
    name, _, secret = line.partition("=")
    assert name == "JWT_SECRET" and len(secret) >= 43
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert Settings(_env_file=env_file).insecure_for_serving() is None  # type: ignore[call-arg]

    second = _conduit("ensure-secret", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert env_file.read_text() == f"{line}\n"


def test_ensure_secret_keeps_the_other_settings_in_dot_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_REQUESTS=false")  # no newline at the end

    assert _conduit("ensure-secret", cwd=tmp_path).returncode == 0

    lines = (tmp_path / ".env").read_text().splitlines()
    assert lines[0] == "LOG_REQUESTS=false"
    assert lines[1].startswith("JWT_SECRET=") and len(lines) == 2


def test_ensure_secret_writes_nothing_when_the_environment_has_a_secret(tmp_path: Path) -> None:
    done = _conduit("ensure-secret", cwd=tmp_path, JWT_SECRET=TEST_JWT_SECRET)

    assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".env").exists()


def test_make_run_ensures_a_secret_before_serving() -> None:
    run_target = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert run_target.index("conduit ensure-secret") < run_target.index("conduit serve")
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
