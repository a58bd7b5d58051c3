"""The ceiling: the service's server stack answering from memory, with no database.

A bare FastAPI app that answers every request (any path, GET/POST/PUT/DELETE) with one
captured response of the real service: the same status, content type and bytes. It runs
under uvicorn with the options ``conduit serve`` uses (keep ``main`` in step with
``serve`` in ``api/cli.py``), so the requests per second it reaches are the most that framework,
server and the benchmark's client can do for that response; the service's fraction of it
is what its own work (database, models, serialisation) costs.

    python bench/ceiling.py --response captured.json --port 8100 [--workers 1]

``captured.json`` holds ``{"status": 200, "content_type": "...", "body_base64": "..."}``.
"""

import argparse
import base64
import json
import os

from fastapi import FastAPI, Response

RESPONSE_FILE = "CEILING_RESPONSE"


def create_app() -> FastAPI:
    """The app for the response in the file named by ``$CEILING_RESPONSE``."""
    with open(os.environ[RESPONSE_FILE]) as file:
        captured = json.load(file)
    body = base64.b64decode(captured["body_base64"])
    status = int(captured["status"])
    content_type = captured["content_type"]

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def captured_response(path: str) -> Response:
        return Response(body, status_code=status, media_type=content_type)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--response", required=True, help="captured response (JSON)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # Through the environment, so that worker processes (--workers > 1) find it too.
    os.environ[RESPONSE_FILE] = os.path.abspath(args.response)

    import uvicorn

    from api.cli import UVICORN_OPTIONS

    uvicorn.run(
        "ceiling:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
