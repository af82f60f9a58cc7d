"""Per-principal and per-address request limits: fixed one-minute windows, shared through Redis."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from ipaddress import ip_address, ip_network
from typing import Any, Protocol

from graphql import GraphQLFormattedError
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import RedisError

from hushcut.api.sessions import SESSION_COOKIE, SessionSigner, headers_of, parse_cookies
from hushcut.core.redis_connection import CONNECT_TIMEOUT_S, redis_client

logger = logging.getLogger("hushcut.api.ratelimit")


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
    """Counters in Redis, so every API instance enforces one shared limit.

    While Redis is unreachable the limits are counted in this process instead (each
    instance then allows the limit on its own), and Redis is tried again every
    ``retry_after_s``: an outage degrades the limits, never the API.
    """

    def __init__(self, url: str, per_minute: int, *, retry_after_s: float = 5.0) -> None:
        self.per_minute = per_minute
        self.retry_after_s = retry_after_s
        self._redis: Redis = redis_client(url, socket_timeout=CONNECT_TIMEOUT_S)
        self._local = MemoryRateLimiter(per_minute)
        self._retry_at = 0.0
        self.degraded = False

    async def hit(self, *keys: str) -> bool:
        if self.degraded and time.monotonic() < self._retry_at:
            return await self._local.hit(*keys)
        window = _window()
        try:
            # One round trip for every key of the request.
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    name = f"hushcut:rl:{window}:{key}"
                    pipe.incr(name)
                    pipe.expire(name, 120)
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            if not self.degraded:
                logger.warning(
                    "Redis is unreachable (%s): rate limits are counted per process until "
                    "it is back",
                    exc,
                )
            self.degraded = True
            self._retry_at = time.monotonic() + self.retry_after_s
            return await self._local.hit(*keys)
        if self.degraded:
            logger.warning("Redis is reachable again: rate limits are shared again")
            self.degraded = False
        return all(int(count) <= self.per_minute for count in results[::2])

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(redis_url: str | None, per_minute: int) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, per_minute)
    return MemoryRateLimiter(per_minute)


class ClientAddresses:
    """The address a request comes from, believing X-Forwarded-For only from named proxies.

    When the connection comes from a trusted proxy, the header is read from the right
    (the entry that proxy appended) and the first address that is not itself a trusted
    proxy is the client: anything further left was written by the client and may be
    made up. From any other peer the header is ignored.
    """

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.networks = [ip_network(entry, strict=False) for entry in trusted_proxies]

    def is_trusted(self, host: str) -> bool:
        if not self.networks:
            return False
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_of(self, scope: Scope) -> str:
        peer = scope.get("client")
        host = peer[0] if peer else "unknown"
        if not self.is_trusted(host):
            return host
        hops = [
            hop.strip()
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop[:64]
        return hops[0][:64] if hops else host


def token_key(token: str) -> str:
    """A limiter key for a bearer token that never stores the token itself.

    The token's sha256 is what identifies it in the database too, so each token has one
    bucket however its header is spelt.
    """
    return "tok:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def principal_key(
    headers: Mapping[str, str], signer: SessionSigner, *, credential: object = None
) -> str | None:
    """The limiter key of the caller a request names: its API token, or its signed-in user.

    ``credential`` is a websocket's ``connection_init`` Authorization value (with or
    without the ``Bearer`` scheme); otherwise the Authorization header, then the
    session cookie, are used, in the order authentication uses them. None when the
    request names nobody (then only the address limit applies).
    """
    raw = credential if credential is not None else headers.get("authorization")
    if isinstance(raw, str) and raw.strip():
        scheme, _, rest = raw.strip().partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else raw.strip()
        return token_key(token) if token else None
    browser = signer.read_session(parse_cookies(headers.get("cookie")).get(SESSION_COOKIE))
    return f"user:{browser.user_id}" if browser is not None else None


RATE_LIMITED_ERROR: GraphQLFormattedError = {
    "message": "too many requests: slow down and retry in a minute",
    "extensions": {"code": "RATE_LIMITED"},
}

#: Paths that infrastructure polls; limiting them would page someone for nothing.
UNLIMITED_PATHS = frozenset({"/api/health", "/metrics"})


class RequestLimits:
    """Who a request or websocket operation counts against, and whether it is allowed.

    Every request counts once against its client address and once against its principal
    (token or signed-in user); so does every operation a websocket starts.
    """

    def __init__(
        self, limiter: RateLimiter, signer: SessionSigner, addresses: ClientAddresses
    ) -> None:
        self.limiter = limiter
        self.signer = signer
        self.addresses = addresses

    def keys(self, scope: Scope, *, credential: object = None) -> list[str]:
        """The request's limiter keys. Its client address is read from the scope, where
        :func:`rate_limit_middleware` put the real one (websocket scopes included)."""
        headers = headers_of(scope["headers"])
        client = scope.get("client")
        keys = ["ip:" + (client[0] if client else "unknown")]
        principal = principal_key(headers, self.signer, credential=credential)
        if principal is not None:
            keys.append(principal)
        return keys

    async def allow_websocket_operation(
        self, scope: Scope, connection_params: Mapping[str, Any] | None
    ) -> bool:
        """Count one operation a websocket starts; False when it is over a limit."""
        params = connection_params or {}
        credential = params.get("Authorization", params.get("authorization"))
        return await self.limiter.hit(*self.keys(scope, credential=credential))

    async def close(self) -> None:
        await self.limiter.close()


def rate_limit_middleware(limits: RequestLimits) -> Callable[[ASGIApp], ASGIApp]:
    """Refuses requests over the per-address or per-principal limit with 429 and RATE_LIMITED.

    It also puts the client's real address (see :class:`ClientAddresses`) in the scope,
    for everything after it.
    """

    def wrap(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] not in ("http", "websocket"):
                await app(scope, receive, send)
                return
            peer = scope.get("client")
            client = limits.addresses.client_of(scope)
            if peer is None or client != peer[0]:
                scope = {**scope, "client": (client, 0)}  # type: ignore[assignment]
            if scope["path"] in UNLIMITED_PATHS:
                await app(scope, receive, send)
                return
            if not await limits.limiter.hit(*limits.keys(scope)):
                await _refuse(scope, send)
                return
            await app(scope, receive, send)

        return limited

    return wrap


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == ScopeType.WEBSOCKET:
        await send({"type": "websocket.close", "code": 4429, "reason": "rate limited"})
        return
    body = json.dumps({"errors": [RATE_LIMITED_ERROR]}).encode()
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
