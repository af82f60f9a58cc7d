"""Per-token and per-address request limits: fixed one-minute windows, shared through Redis."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Protocol

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send
from redis.asyncio import Redis


class RateLimiter(Protocol):
    """Counts a hit for each key and says whether the caller is within every limit."""

    async def hit(self, *keys: str) -> bool: ...

    async def close(self) -> None: ...


def _window() -> int:
    return int(time.time() // 60)


class MemoryRateLimiter:
    """Counters in this process only: right for the embedded single-process runtime."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._window = _window()
        self._counts: dict[str, int] = {}

    async def hit(self, *keys: str) -> bool:
        window = _window()
        if window != self._window:
            # Dropping the whole table at the minute boundary keeps memory bounded.
            self._window = window
            self._counts.clear()
        allowed = True
        for key in keys:
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            allowed = allowed and count <= self.per_minute
        return allowed

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """Counters in Redis, so every API instance enforces one shared limit."""

    def __init__(self, url: str, per_minute: int) -> None:
        self.per_minute = per_minute
        self._redis: Redis = Redis.from_url(url)

    async def hit(self, *keys: str) -> bool:
        window = _window()
        # One round trip for every key of the request.
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                name = f"hushcut:rl:{window}:{key}"
                pipe.incr(name)
                pipe.expire(name, 120)
            results = await pipe.execute()
        return all(int(count) <= self.per_minute for count in results[::2])

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(redis_url: str | None, per_minute: int) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, per_minute)
    return MemoryRateLimiter(per_minute)


def token_key(token: str) -> str:
    """A limiter key for a bearer token that never stores the token itself."""
    return "tok:" + hashlib.sha256(token.encode()).hexdigest()[:32]


#: Paths that infrastructure polls; limiting them would page someone for nothing.
UNLIMITED_PATHS = frozenset({"/api/health", "/metrics"})


def rate_limit_middleware(limiter: RateLimiter) -> Callable[[ASGIApp], ASGIApp]:
    """Refuses requests over the per-address or per-token limit with 429 and RATE_LIMITED."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] not in ("http", "websocket") or scope["path"] in UNLIMITED_PATHS:
                await app(scope, receive, send)
                return
            client = scope.get("client")
            keys = ["ip:" + (client[0] if client else "unknown")]
            for name, value in scope["headers"]:
                if name == b"authorization":
                    keys.append(token_key(value.decode("latin-1")))
                    break
            if not await limiter.hit(*keys):
                await _refuse(scope, send)
                return
            await app(scope, receive, send)

        return limited

    return wrap


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == ScopeType.WEBSOCKET:
        await send({"type": "websocket.close", "code": 4429, "reason": "rate limited"})
        return
    body = json.dumps(
        {
            "errors": [
                {
                    "message": "too many requests: slow down and retry in a minute",
                    "extensions": {"code": "RATE_LIMITED"},
                }
            ]
        }
    ).encode()
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", b"application/json"),
            (b"retry-after", str(60 - int(time.time()) % 60).encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
