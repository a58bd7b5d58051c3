"""``--layers``: one read measured with the service's layers added one at a time, each a
server of its own (bench/ceiling.py --layer), to show what each layer costs."""

import argparse
import json
from pathlib import Path
from typing import Any

from measure import CEILING_WARMUP_S, ceiling_server, measured, run_wrk, say
from report import summarise
from scenarios import BENCH_USER, Fixture, Scenario, capture

from tooling.harness import Server

# The scenarios --layers can measure: the read each layer server runs (bench/ceiling.py).
LAYER_READS = {"profile": "profile", "list_auth": "articles", "tags": "tags"}
# The path that serves, from the driver up: each row adds one layer to the one above.
_SHARED_TITLES = {
    "cursor": "+ SQLAlchemy's Connection (read-only) and its driver adapter's DBAPI cursor",
    "lean": "+ the read query (Statement, read model) on a read-only connection",
    "uow": "+ the read-only unit of work around it",
    "service": "+ the service: middleware, auth, use case, view, JSON",
}
LAYER_TITLES: dict[str, dict[str, str]] = {
    "thread": {
        "bytes": "the ceiling: captured bytes from an async endpoint",
        "hop": "+ a def endpoint: FastAPI's threadpool hop",
        "driver": "+ the read's SQL with plain psycopg, in autocommit",
        **_SHARED_TITLES,
    },
    "bridge": {
        "bytes": "the ceiling: captured bytes from an async endpoint",
        "hop": "+ the greenlet bridge: the endpoint awaits greenlet_spawn",
        "driver": "+ the read's SQL with plain asyncpg (own pool, no reset), in autocommit",
        "pool": "the same on SQLAlchemy's pool, from inside the bridge (hop + pool)",
        **_SHARED_TITLES,
    },
}

# The layers of either path: the layer servers' and the service.
LAYERS = tuple(dict.fromkeys([*LAYER_TITLES["thread"], *LAYER_TITLES["bridge"]]))


def serving_path(database_url: str, env: dict[str, str]) -> str:
    """The path the service, and so its layers, serve on: ``SERVING``, ``auto`` resolved as
    the service resolves it."""
    from infrastructure.settings import Settings

    given = {
        "database_url": database_url,
        "jwt_secret": env.get("JWT_SECRET", "x" * 32),
        "serving": env.get("SERVING", "auto"),
    }
    if "DB_PREPARED_STATEMENTS" in env:
        given["db_prepared_statements"] = env["DB_PREPARED_STATEMENTS"]
    return Settings(_env_file=None, **given).serving_path.value  # type: ignore[arg-type]


def run_layers(
    scenario: Scenario,
    service: Server,
    fixture: Fixture,
    database_url: str,
    env: dict[str, str],
    args: argparse.Namespace,
    work: Path,
    pin: bool,
    pin_server: bool,
) -> list[dict[str, Any]]:
    """The scenario against bench/ceiling.py at each --layer and the service, alternating
    run by run; one summary per layer, in order."""
    from sqlalchemy import create_engine, text

    paths = scenario.paths(fixture)
    paths_file = work / f"layers-{scenario.name}.paths"
    paths_file.write_text("\n".join(paths) + "\n")
    response_file = work / f"layers-{scenario.name}.response.json"
    response_file.write_text(
        json.dumps(capture(service.base_url, scenario, paths[0], fixture.token, work.name))
    )
    engine = create_engine(database_url)
    with engine.connect() as connection:
        viewer_id = connection.scalar(
            text("SELECT id FROM users WHERE email = :email"), {"email": BENCH_USER[0]}
        )
    engine.dispose()
    layer_env = env | {
        "LAYER_READ": LAYER_READS[scenario.name],
        "LAYER_USERNAME": fixture.followed_username,
        "LAYER_VIEWER_ID": str(viewer_id),
    }
    path = serving_path(database_url, env)
    titles = LAYER_TITLES[path]
    layer_env["SERVING"] = path
    servers: dict[str, Server] = {}
    try:
        for layer in titles:
            if layer == "service":
                servers[layer] = service
                continue
            servers[layer] = ceiling_server(
                f"layer {layer}",
                response_file,
                layer,
                layer_env,
                args,
                work / f"layer-{scenario.name}-{layer}.log",
                pin_server,
            )
            servers[layer].start()
        for layer, server in servers.items():
            warmup = args.warmup if layer == "service" else CEILING_WARMUP_S
            run_wrk(server.base_url, scenario, paths_file, fixture.token, warmup, pin)
        runs: dict[str, list[dict[str, Any]]] = {layer: [] for layer in servers}
        for round_number in range(args.runs):
            for layer, server in servers.items():
                runs[layer].append(
                    measured(server, scenario, paths_file, fixture.token, args.duration, pin)
                )
            say(f"bench: layers of {scenario.name}: round {round_number + 1} of {args.runs} done")
    finally:
        for layer, server in servers.items():
            if layer != "service":
                server.stop()
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "serving": path,
        "first_path": paths[0],
        "layers": [
            {"layer": name, "title": titles[name], **summarise(found), "runs": found}
            for name, found in runs.items()
        ],
    }
