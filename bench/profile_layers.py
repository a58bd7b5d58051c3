"""Where the service's time goes, by layer, from py-spy's raw (collapsed) stacks.

    .venv/bin/python bench/profile_layers.py .bench/profile-list_auth.txt

Two views of the same samples:

- **self**: each sample is charged to the package of its innermost Python frame (psycopg,
  sqlalchemy, pydantic, starlette, ...). Native code (pydantic-core, libpq, the JSON
  encoder) is charged to the Python frame that called it.
- **inclusive**: the share of samples whose stack passes through a marker (the endpoint,
  the read queries, SQL execution, the response serialisation, FastAPI's dependency
  solving, ...). Markers nest, so these do not add up to 100%.
"""

import re
import sys
from collections import Counter
from pathlib import Path

# "function (path/to/module.py:line)": py-spy gives paths relative to their sys.path entry,
# so the first path component is the top-level module or package.
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")

# Top-level module -> layer, for the self-time view.
_PACKAGES: dict[str, str] = {
    "psycopg": "psycopg (driver)",
    "psycopg_binary": "psycopg (driver)",
    "psycopg_pool": "psycopg (driver)",
    "sqlalchemy": "sqlalchemy",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "fastapi": "fastapi",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "httptools": "uvicorn",
    "anyio": "anyio (threadpool)",
    "dependency_injector": "dependency_injector",
    "jwt": "jwt",
    "prometheus_client": "prometheus_client",
    "api": "app: api/",
    "application": "app: application/",
    "domain": "app: domain/",
    "infrastructure": "app: infrastructure/",
    "asyncio": "stdlib: asyncio",
    "threading": "stdlib: threading, queue",
    "queue": "stdlib: threading, queue",
    "logging": "stdlib: logging",
    "json": "stdlib: json",
}

# (label, substring of a frame "function (path:line)"); a sample counts once per label.
_MARKERS: list[tuple[str, str]] = [
    ("endpoint (router function and all it calls)", "(api/routers/"),
    ("  service call (application/, with its unit of work)", "(application/"),
    ("    read side (infrastructure/queries.py)", "(infrastructure/queries.py"),
    ("    unit of work enter/exit (session begin, commit/rollback, close)", "unit_of_work.py"),
    ("      sqlalchemy: Session/Connection.execute", "execute (sqlalchemy/"),
    ("      sqlalchemy: statement compilation", "(sqlalchemy/sql/compiler.py"),
    ("      psycopg (send, wait, read rows)", "(psycopg/"),
    ("      sqlalchemy: result rows", "(sqlalchemy/engine/result.py"),
    ("  response models (api/schemas.py)", "(api/schemas.py"),
    ("  serialisation (api/responses.py: model_dump_json, Response)", "(api/responses.py"),
    ("fastapi: solve_dependencies (auth, services)", "solve_dependencies"),
    ("threadpool hop (run_in_threadpool / to_thread)", "run_sync_in_worker_thread"),
    ("middleware (api/middleware.py, all it wraps)", "(api/middleware.py"),
    ("uvicorn/httptools protocol (parse, write)", "(uvicorn/protocols/"),
    ("logging", "(logging/"),
    ("jwt (token check)", "(jwt/"),
    ("prometheus_client (metrics)", "(prometheus_client/"),
]

# Innermost frames of a thread that waits (for work, a lock, a connection, the network).
_WAITING = ("Condition.wait (threading.py", "Queue.get (queue.py", "Connection.wait (psycopg/")


def _parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks


def _package(frame: str) -> str:
    match = _FRAME.match(frame)
    where = match.group("path") if match else frame
    top = where.split("/", 1)[0].removesuffix(".py")
    if top in _PACKAGES:
        return _PACKAGES[top]
    if top in sys.stdlib_module_names:
        return "stdlib: other"
    return "other"


def layers(path: Path) -> dict[str, object]:
    """``{"samples": n, "waiting": share, "self": {...}, "inclusive": {...}}``.

    Samples of threads that wait (idle threadpool workers, a pool or a socket) are counted
    in ``waiting`` and left out of the other shares, which are of the busy samples.
    """
    stacks = _parse(Path(path))
    all_samples = sum(count for _stack, count in stacks) or 1
    busy = [(stack, count) for stack, count in stacks if not stack[-1].startswith(_WAITING)]
    total = sum(count for _stack, count in busy) or 1
    by_package: Counter[str] = Counter()
    by_marker: Counter[str] = Counter()
    for stack, count in busy:
        by_package[_package(stack[-1])] += count
        for label, needle in _MARKERS:
            if any(needle in frame for frame in stack):
                by_marker[label] += count
    return {
        "samples": all_samples,
        "busy_samples": total,
        "waiting": round(1 - total / all_samples, 4),
        "self": {name: round(n / total, 4) for name, n in by_package.most_common()},
        "inclusive": {label: round(by_marker[label] / total, 4) for label, _n in _MARKERS},
    }


def top_functions(path: Path, limit: int = 25) -> list[tuple[str, float]]:
    """The innermost frames that took the most busy samples (self time)."""
    stacks = _parse(Path(path))
    leaves: Counter[str] = Counter()
    for stack, count in stacks:
        if not stack[-1].startswith(_WAITING):
            leaves[stack[-1]] += count
    total = sum(leaves.values()) or 1
    return [(frame, n / total) for frame, n in leaves.most_common(limit)]


def main(argv: list[str]) -> None:
    for name in argv:
        found = layers(Path(name))
        print(
            f"{name}: {found['samples']} samples, {found['waiting']:.1%} of them waiting; "
            f"shares below are of the {found['busy_samples']} busy ones"
        )
        print("\nself time by package:")
        for package, share in found["self"].items():  # type: ignore[attr-defined]
            print(f"  {share:6.1%}  {package}")
        print("\ninclusive (stack passes through):")
        for label, share in found["inclusive"].items():  # type: ignore[attr-defined]
            print(f"  {share:6.1%}  {label}")
        print("\ntop functions (self):")
        for frame, share in top_functions(Path(name)):
            print(f"  {share:6.1%}  {frame}")


if __name__ == "__main__":
    main(sys.argv[1:] or sys.exit(__doc__))
