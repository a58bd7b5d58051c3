"""Probes and metrics, outside ``/api``: no admission limit; metrics need their own token."""

import hmac

import anyio
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.dependencies import container
from api.errors import error_response
from api.schemas import errors
from domain import messages

router = APIRouter(tags=["Operations"])

# Probes get threads of their own: they must answer while the request threads are all busy.
_probe_threads = anyio.CapacityLimiter(2)


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/health/ready", responses=errors(503))
async def ready(request: Request) -> Response:
    """The database answered ``SELECT 1`` within about a second (the answer may be up to a
    second old: see ``ReadinessProbe``)."""
    probe = container(request).readiness_probe()
    answered = probe.recent()  # most calls: no thread, no I/O
    if answered is None:
        try:
            with anyio.fail_after(1.5):
                await anyio.to_thread.run_sync(
                    probe.check, limiter=_probe_threads, abandon_on_cancel=True
                )
            answered = True
        except Exception:
            answered = False
    if not answered:
        return error_response(503, messages.DATABASE_UNREACHABLE, headers={"Retry-After": "1"})
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics, for whoever has METRICS_TOKEN; without one set, none are served
    (the pool and route statistics are nobody else's business)."""
    token = container(request).settings().metrics_token
    if token is None:
        return error_response(404, messages.NOT_FOUND)
    offered = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(offered, f"Bearer {token}".encode()):
        return error_response(
            401,
            messages.METRICS_TOKEN_REQUIRED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(
        generate_latest(container(request).metrics_registry()), media_type=CONTENT_TYPE_LATEST
    )
