"""GET /api/health: database, queue and storage checks for load balancers and monitors.

``up`` (200) when every dependency answers; ``degraded`` (200) when the queue (Redis)
or storage does not: this instance still serves reads and the mutations that need
neither, and answers the others with a retryable error, so a load balancer must keep it
in rotation (every instance shares the same Redis and bucket: taking them all out would
turn a partial outage into a full one); ``down`` (503) only when the database does not
answer, as then nothing can be served.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, get
from litestar.response import Response
from redis.asyncio import Redis
from sqlalchemy import text

from hushcut.api.state import ApiState
from hushcut.core.redis_connection import redis_client

CHECK_TIMEOUT_S = 3.0
#: Dependencies without which this instance can serve nothing at all.
ESSENTIAL = frozenset({"database"})


async def _database(api: ApiState) -> None:
    async with api.runtime.sessionmaker() as session:
        await session.execute(text("SELECT 1"))


async def _queue(api: ApiState) -> None:
    if not api.settings.redis_url:
        return  # the in-process queue is up whenever this process is
    client: Redis = redis_client(api.settings.redis_url)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _storage(api: ApiState) -> None:
    await api.runtime.storage.check()


CHECKS: dict[str, Callable[[ApiState], Awaitable[None]]] = {
    "database": _database,
    "queue": _queue,
    "storage": _storage,
}


async def _run(api: ApiState, check: Callable[[ApiState], Awaitable[None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(api), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means the dependency is down for us
        detail = str(exc) or type(exc).__name__
        return {"status": "down", "error": detail[:300]}
    return {"status": "up", "ms": round((time.perf_counter() - started) * 1000, 1)}


@get("/api/health", include_in_schema=False)
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    api: ApiState = request.app.state.api
    results = await asyncio.gather(*(_run(api, check) for check in CHECKS.values()))
    checks = dict(zip(CHECKS, results, strict=True))
    failing = [name for name, result in checks.items() if result["status"] != "up"]
    down = any(name in ESSENTIAL for name in failing)
    status = "down" if down else "degraded" if failing else "up"
    body: dict[str, Any] = {"status": status, "checks": checks}
    if failing:
        body["failing"] = failing
    return Response(body, status_code=503 if down else 200)
