"""Redis clients that survive a Redis restart: a stale connection is replaced and the
command sent again, once, instead of failing the first command after the restart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Seconds to wait for a connection or an answer: Redis answers in milliseconds, and
#: callers with a fallback (rate limits, events) must not hang while it is away.
CONNECT_TIMEOUT_S = 2.0


def redis_client(url: str, **options: Any) -> Redis:
    """An asyncio Redis client that retries a command once on a fresh connection.

    After Redis restarts (or a proxy drops idle connections), every pooled connection
    is dead but looks alive until used; without a retry the first command on each one
    fails, and a published event is lost although Redis is up again. One retry is
    enough for that; an outage still fails fast (about 0.2 s) so callers can fall back.
    """
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError

    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_S)
    options.setdefault("health_check_interval", 30)
    return Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        retry_on_error=[ConnectionError, TimeoutError, OSError],
        **options,
    )
