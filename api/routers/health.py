"""Probes and metrics, outside ``/api``: no authentication, no admission limit."""

import anyio
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.dependencies import container
from api.errors import error_response
from infrastructure.database import ping

router = APIRouter(tags=["Operations"])

# Probes get threads of their own: they must answer while the request threads are all busy.
_probe_threads = anyio.CapacityLimiter(2)


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/health/ready", responses={503: {"description": "database unreachable"}})
async def ready(request: Request) -> Response:
    """The database answers a ping within about a second."""
    settings = container(request).settings()
    try:
        with anyio.fail_after(1.5):
            await anyio.to_thread.run_sync(
                ping, settings, limiter=_probe_threads, abandon_on_cancel=True
            )
    except Exception:
        return error_response(503, "database unreachable", headers={"Retry-After": "1"})
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(container(request).metrics_registry()), media_type=CONTENT_TYPE_LATEST
    )
