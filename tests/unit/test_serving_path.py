"""Which serving path SERVING names (api.serving; README, "Serving path")."""

import pytest

from infrastructure.settings import Serving
from tests.conftest import settings_for

POSTGRESQL = "postgresql+psycopg://conduit@db.example.com/conduit"
SQLITE = "sqlite:///conduit.db"


@pytest.mark.parametrize(
    ("database_url", "overrides", "path"),
    [
        (POSTGRESQL, {}, Serving.BRIDGE),
        (POSTGRESQL, {"database_replica_urls": POSTGRESQL}, Serving.BRIDGE),
        # Behind PgBouncer in transaction mode, psycopg reads in autocommit; asyncpg could not.
        (POSTGRESQL, {"db_prepared_statements": False}, Serving.THREAD),
        (SQLITE, {}, Serving.THREAD),
    ],
    ids=["postgresql", "with replicas", "behind a pooler", "sqlite"],
)
def test_auto_serves_on_the_path_measured_fastest_for_the_database(database_url, overrides, path):
    assert settings_for(database_url, serving="auto", **overrides).serving_path is path


@pytest.mark.parametrize("path", list(Serving))
def test_a_path_named_on_postgresql_is_the_one_that_serves(path):
    settings = settings_for(POSTGRESQL, serving=path.value, db_prepared_statements=False)
    assert settings.serving_path is path


def test_sqlite_refuses_the_bridge():
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        _ = settings_for(SQLITE, serving="bridge").serving_path
