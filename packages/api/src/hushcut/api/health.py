"""GET /api/health: database, queue and storage checks; 503 naming the one that fails."""

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

CHECK_TIMEOUT_S = 3.0


async def _database(api: ApiState) -> None:
    async with api.runtime.sessionmaker() as session:
        await session.execute(text("SELECT 1"))


async def _queue(api: ApiState) -> None:
    if not api.settings.redis_url:
        return  # the in-process queue is up whenever this process is
    client: Redis = Redis.from_url(api.settings.redis_url, socket_connect_timeout=2)
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
    body: dict[str, Any] = {"status": "down" if failing else "up", "checks": checks}
    if failing:
        body["failing"] = failing
    return Response(body, status_code=503 if failing else 200)
