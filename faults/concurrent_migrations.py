"""Fault 6: several `conduit migrate` at once, and a migration blocked by a lock."""

import json
import subprocess
import time

import stack
from invariants import Check
from plan import Result, Run, last_error_line

from tooling.harness import BIN

LOCK_TIMEOUT_MS = 1000


def fault_6_migrations(run: Run) -> list[Result]:
    """Several `conduit migrate` at once on an empty database: all succeed, the schema is
    migrated once. Then a migration that needs a lock held by live traffic fails within
    lock_timeout, through alembic/env.py itself (with a throwaway revision)."""
    from alembic.script import ScriptDirectory

    from infrastructure.migrations import alembic_config
    from infrastructure.orm import metadata

    concurrent = Result(f"6a {run.profile.migrators} concurrent migrate")
    blocked = Result("6b migrate blocked by a lock")
    started = time.monotonic()
    database = run.new_database("_migrate")
    url = stack.pg_url(database)
    env = stack.app_env(DATABASE_URL=url, JWT_SECRET=stack.JWT_SECRET)
    processes = [
        stack.conduit("migrate", env=env, cwd=run.workdir) for _ in range(run.profile.migrators)
    ]
    outputs = stack.wait_all(processes)
    codes = [p.returncode for p in processes]
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with stack.connect(database) as conn:
        versions = [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]
        tables = {t for (t,) in conn.execute("SELECT tablename FROM pg_tables")}
    missing = set(metadata.tables) - tables
    concurrent.checks["fault"] = Check(
        codes == [0] * len(codes) and versions == [head] and not missing,
        f"exit codes {codes}; alembic_version {versions} (head {head}); "
        f"missing tables: {sorted(missing) or 'none'}",
    )
    for output, code in zip(outputs, codes, strict=True):
        if code:
            concurrent.notes.append(last_error_line(output))
    concurrent.seconds = time.monotonic() - started

    started = time.monotonic()
    probe = run.workdir / "probe_versions"
    probe.mkdir(exist_ok=True)
    (probe / "faults_probe.py").write_text(PROBE_REVISION.format(down=head))
    holder = stack.connect(database)
    try:
        holder.autocommit = False
        holder.execute("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE")  # live traffic, say
        env = stack.app_env(LOCK_TIMEOUT_MS=str(LOCK_TIMEOUT_MS), JWT_SECRET=stack.JWT_SECRET)
        output = subprocess.run(
            [str(BIN / "python"), "-c", PROBE_UPGRADE, url, str(probe)],
            env=env,
            cwd=run.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.rollback()
        holder.close()
    outcome = json.loads(output.stdout.strip().splitlines()[-1] if output.stdout.strip() else "{}")
    if "ok" not in outcome:
        raise RuntimeError(f"the migration probe printed no outcome:\n{output.stderr[-2000:]}")
    with stack.connect(database) as conn:
        versions = [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]
        advisory = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    bound = LOCK_TIMEOUT_MS / 1000 + 1.0
    error = outcome.get("error", "it succeeded").splitlines()[0][:120]
    blocked.checks["fault"] = Check(
        not outcome["ok"]
        and "lock timeout" in error
        and outcome["seconds"] <= bound
        and versions == [head]
        and advisory == (0,),
        f"failed after {outcome['seconds']:.2f} s (lock_timeout {LOCK_TIMEOUT_MS} ms, bound "
        f"{bound:.1f} s): {error}; alembic_version {versions}; advisory locks left: "
        f"{advisory[0] if advisory else '?'}",
    )
    blocked.seconds = time.monotonic() - started
    return [concurrent, blocked]


PROBE_REVISION = '''"""A throwaway revision: the fault run's probe of lock_timeout."""
import sqlalchemy as sa
from alembic import op

revision = "faults_probe"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("faults_probe", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("articles", "faults_probe")
'''

# `conduit migrate`'s own path (infrastructure.migrations -> alembic/env.py), with the
# probe revision's directory added to the version locations.
PROBE_UPGRADE = """
import json, os, sys, time
from alembic import command
from infrastructure.migrations import ALEMBIC_DIR, alembic_config

config = alembic_config(sys.argv[1])
config.set_main_option("path_separator", "os")
config.set_main_option(
    "version_locations", os.pathsep.join([str(ALEMBIC_DIR / "versions"), sys.argv[2]])
)
started = time.monotonic()
try:
    command.upgrade(config, "head")
    print(json.dumps({"ok": True, "seconds": time.monotonic() - started}))
except Exception as error:
    seconds = time.monotonic() - started
    error = f"{type(error).__name__}: {error}"
    print(json.dumps({"ok": False, "seconds": seconds, "error": error}))
"""
