"""Fault 8: hostile clients (faults/attacks.py) against the service as it ships, directly
and through nginx with the repository's config."""

import asyncio
import time
from dataclasses import replace

import attacks
import front
import stack
from invariants import Check
from plan import Result, Run


async def fault_8_hostile_clients(run: Run) -> list[Result]:
    """The attacks of faults/attacks.py on the service as it ships (default settings, one
    worker, production password hashing), then the slow-client ones through nginx with the
    repository's config. An idle socket must be closed within the longest client timeout of
    the service (or of nginx) plus 5 s."""
    direct, fronted = Result("8a hostile clients"), Result("8b hostile clients via nginx")
    started = time.monotonic()
    profile = attacks.SHORT if run.profile.short else attacks.FULL
    database = run.new_database("_hostile")
    await asyncio.to_thread(stack.migrate, stack.pg_url(database), run.workdir)
    server = stack.service(stack.pg_url(database), run.workdir, "hostile", tuned=False)
    run.servers.append(server)
    await asyncio.to_thread(server.start)
    try:
        bound = replace(profile, close_within=_service_client_timeout() + 5)
        _attack_checks(direct, await attacks.run_attacks(server.base_url, bound))
        direct.seconds = time.monotonic() - started
        started = time.monotonic()
        if front.nginx_binary() is None:
            fronted.skipped = "nginx is not installed (Debian: apt-get install -y nginx)"
            print(f"fault 8b skipped: {fronted.skipped}")
            return [direct, fronted]
        nginx = front.Nginx(f"127.0.0.1:{server.port}")
        run.daemons.append(nginx)
        await asyncio.to_thread(nginx.start)
        # A full run's 20,000 idle sockets would be more than one nginx worker may hold here.
        sockets = min(profile.idle_sockets, 10_000)
        bound = replace(profile, close_within=nginx.timeouts() + 5, idle_sockets=sockets)
        slow_clients = ("slow", "idle", "header")
        _attack_checks(
            fronted, await attacks.run_attacks(nginx.base_url, bound, slow_clients, "nginx")
        )
        nginx.stop()
    finally:
        await asyncio.to_thread(server.stop)
    fronted.seconds = time.monotonic() - started
    return [direct, fronted]


def _service_client_timeout() -> float:
    """The longest of the service's header, body and keep-alive timeouts by default (20 s
    where it has none of them: today's code, which then fails on the sockets it never closes)."""
    from infrastructure.settings import Settings

    names = ("header_timeout_seconds", "body_timeout_seconds", "keepalive_timeout_seconds")
    fields = Settings.model_fields
    return max((float(fields[n].default) for n in names if n in fields), default=20.0)


def _attack_checks(result: Result, outcomes: list[attacks.Outcome]) -> None:
    for outcome in outcomes:
        detail = outcome.figures + ("" if outcome.probe == "-" else f"; probe: {outcome.probe}")
        result.checks[outcome.attack] = Check(outcome.ok, detail)
    held = sum(o.ok for o in outcomes)
    result.checks["fault"] = Check(
        bool(outcomes) and held == len(outcomes), f"{held} of {len(outcomes)} attacks held"
    )
