"""The Litestar application factory: GraphQL, sign-in, webhooks, storage, health and metrics."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar, Request, get
from litestar.config.cors import CORSConfig
from litestar.response import Response
from litestar.types import Scope

from hushcut.api import health, local_storage, signin, webhooks
from hushcut.api.billing import Billing
from hushcut.api.graphql.schema import build_schema
from hushcut.api.graphql.view import graphql_controller
from hushcut.api.live import LiveSubscriptions
from hushcut.api.logs import configure_logging, request_id_middleware
from hushcut.api.metrics import ApiMetrics
from hushcut.api.oidc import OidcProvider
from hushcut.api.ratelimit import (
    ClientAddresses,
    RequestLimits,
    create_rate_limiter,
    rate_limit_middleware,
)
from hushcut.api.sessions import SessionSigner
from hushcut.api.state import ApiState
from hushcut.api.web import WebApp
from hushcut.core.events import InProcessEventBus
from hushcut.core.ports import DispatcherScope, JobDispatcher
from hushcut.core.queue import NoDispatcher, RedisDispatcher
from hushcut.core.runtime import Runtime
from hushcut.core.services.workers import OfferedOptions
from hushcut.core.settings import Settings

logger = logging.getLogger("hushcut.api")
GC_YOUNG_THRESHOLD = 20_000


class _StateHolder:
    """Filled in by the lifespan; the GraphQL context reads it on every request."""

    api: ApiState | None = None

    def get(self) -> ApiState:
        if self.api is None:
            raise RuntimeError("the API is not started (lifespan did not run)")
        return self.api


async def log_unhandled(exception: Exception, scope: Scope) -> None:
    """Litestar answers 500 without a word; the operator needs the traceback."""
    if "client disconnected" in str(exception):
        return  # the client went away mid-request: nothing failed on our side
    status = getattr(exception, "status_code", None)
    # Only HTTP exceptions carry a status; others (a Redis error's status_code is None)
    # are the 500s the operator must hear about.
    if not isinstance(status, int) or status >= 500:
        logger.error(
            "unhandled error in %s %s",
            scope.get("method", "WS"),
            scope.get("path"),
            exc_info=exception,
        )


@get("/metrics", include_in_schema=False, media_type="text/plain; version=0.0.4")
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    api: ApiState = request.app.state.api
    async with api.runtime.sessionmaker() as session:
        await api.metrics.jobs.refresh(session)
    return Response(api.metrics.render(), media_type="text/plain; version=0.0.4")


@asynccontextmanager
async def queue_dispatcher(runtime: Runtime) -> AsyncIterator[JobDispatcher]:
    """The default dispatcher: hints on Redis when ``REDIS_URL`` is set, else none (a
    worker process on the same database finds queued jobs through its reconciler)."""
    url = runtime.settings.redis_url
    dispatcher: JobDispatcher = RedisDispatcher(url) if url else NoDispatcher()
    await dispatcher.startup()
    try:
        yield dispatcher
    finally:
        await dispatcher.shutdown()


def create_app(
    settings: Settings,
    *,
    dispatcher: DispatcherScope = queue_dispatcher,
    migrate: bool | None = None,
    configure_logs: bool = True,
    freeze_gc: bool = True,
) -> Litestar:
    """The whole HTTP API for ``settings``; the core runtime starts with the app's lifespan.

    ``migrate`` upgrades the database first (default: only the embedded SQLite one).
    ``dispatcher`` starts what tells workers about queued jobs on the app's runtime;
    ``hushcut up`` (:mod:`hushcut.platform`) passes one that runs a worker in-process,
    so jobs, events and storage are shared.
    """
    if configure_logs:
        configure_logging(settings.log_level, settings.log_json)
    holder = _StateHolder()
    metrics = ApiMetrics()
    schema = build_schema(count_error=lambda code: metrics.graphql_errors.labels(code).inc())
    signer = SessionSigner(settings.secret_key(), secure=settings.app_url.startswith("https://"))
    limits = RequestLimits(
        create_rate_limiter(settings.redis_url, settings.rate_limit_per_minute),
        signer,
        ClientAddresses(settings.trusted_proxies),
    )
    web = WebApp(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, upgrade=migrate)
        stack = AsyncExitStack()
        try:
            queue = await stack.enter_async_context(dispatcher(runtime))
            api = ApiState(
                settings=settings,
                runtime=runtime,
                queue=queue,
                options=OfferedOptions(runtime.sessionmaker),
                signer=signer,
                limiter=limits,
                metrics=metrics,
                live=LiveSubscriptions(runtime.sessionmaker),
                oidc=_oidc(settings),
                billing=Billing(settings) if settings.billing_enabled else None,
            )
            events = runtime.events
            if isinstance(events, InProcessEventBus):
                metrics.watch_subscribers(events.subscriber_count)
            else:  # on Redis the bus cannot tell this process's subscribers apart
                metrics.watch_subscribers(lambda: api.live_subscriptions)
            holder.api = api
            app.state.api = api
            api.live.start()
            stack.push_async_callback(api.live.stop)
            if freeze_gc:
                # Everything allocated so far lives as long as the process: moving it to
                # the permanent generation keeps full collections short under load. A
                # request allocates thousands of short-lived objects that reference
                # counting frees; collecting the young generation every 700 allocations
                # (the default) mostly re-scans live request state for nothing.
                gc.collect()
                gc.freeze()
                gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
            logger.info("hushcut API ready at %s", settings.app_url)
            yield
        finally:
            holder.api = None
            await stack.aclose()
            await limits.close()
            await runtime.close()

    return Litestar(
        route_handlers=[
            graphql_controller(
                schema, holder.get, settings.graphql_max_request_bytes, graphiql=web.graphiql
            ),
            health.health,
            metrics_endpoint,
            signin.google_login,
            signin.google_callback,
            signin.sign_in_methods,
            signin.token_sign_in,
            signin.logout,
            signin.logout_everywhere,
            webhooks.stripe_webhook,
            *local_storage.routes(settings),
            *web.routes(),
        ],
        lifespan=[lifespan],
        middleware=[
            request_id_middleware,
            metrics.middleware,
            rate_limit_middleware(limits),
        ],
        cors_config=CORSConfig(
            allow_origins=[settings.app_url.rstrip("/")],
            allow_credentials=True,
            allow_headers=["authorization", "content-type", "x-csrf-token", "x-request-id"],
        ),
        request_max_body_size=None,
        openapi_config=None,
        # Logging is configured above (JSON lines with request ids), not by Litestar.
        logging_config=None,
        after_exception=[log_unhandled],
        debug=False,
    )


def _oidc(settings: Settings) -> OidcProvider | None:
    if settings.google_client_id is None or settings.google_client_secret is None:
        return None
    return OidcProvider(
        settings.oidc_issuer,
        settings.google_client_id,
        settings.google_client_secret.get_secret_value(),
        f"{settings.app_url.rstrip('/')}/auth/google/callback",
    )
