"""The Litestar application factory: GraphQL, sign-in, webhooks, storage, health and metrics."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, get
from litestar.config.cors import CORSConfig
from litestar.response import Response
from litestar.types import Scope

from hushcut.api import health, local_storage, signin, webhooks
from hushcut.api.billing import Billing
from hushcut.api.graphql.schema import build_schema
from hushcut.api.graphql.view import graphql_controller
from hushcut.api.logs import configure_logging, request_id_middleware
from hushcut.api.metrics import ApiMetrics
from hushcut.api.oidc import OidcProvider
from hushcut.api.ratelimit import create_rate_limiter, rate_limit_middleware
from hushcut.api.sessions import SessionSigner
from hushcut.api.state import ApiState
from hushcut.api.web import WebApp
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
    if getattr(exception, "status_code", 500) >= 500:
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


def create_app(
    settings: Settings,
    *,
    with_worker: bool = False,
    migrate: bool | None = None,
    configure_logs: bool = True,
    freeze_gc: bool = True,
) -> Litestar:
    """The whole HTTP API for ``settings``; the core runtime starts with the app's lifespan.

    ``migrate`` upgrades the database first (default: only the embedded SQLite one).
    ``with_worker`` also runs a worker on the same runtime (``hushcut up``), so jobs,
    events and storage are shared in-process.
    """
    if configure_logs:
        configure_logging(settings.log_level, settings.log_json)
    holder = _StateHolder()
    metrics = ApiMetrics()
    schema = build_schema(count_error=lambda code: metrics.graphql_errors.labels(code).inc())
    limiter = create_rate_limiter(settings.redis_url, settings.rate_limit_per_minute)
    web = WebApp(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from hushcut.core.runtime import Runtime
        from hushcut.worker.queue import JobQueue

        runtime = await Runtime.start(settings, upgrade=migrate)
        queue = JobQueue(runtime)
        worker: Any = None
        try:
            await queue.startup()
            if with_worker:
                from hushcut.worker.runner import WorkerRunner

                worker = WorkerRunner(runtime)
                await worker.start()
            api = ApiState(
                settings=settings,
                runtime=runtime,
                queue=queue,
                signer=SessionSigner(
                    settings.secret_key(), secure=settings.app_url.startswith("https://")
                ),
                limiter=limiter,
                metrics=metrics,
                oidc=_oidc(settings),
                billing=Billing(settings) if settings.billing_enabled else None,
            )
            api.option_specs()
            bus_count = getattr(runtime.events, "subscriber_count", None)
            metrics.watch_subscribers(bus_count or (lambda: api.live_subscriptions))
            holder.api = api
            app.state.api = api
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
            if worker is not None:
                await worker.stop()
            await queue.shutdown()
            await limiter.close()
            await runtime.close()

    return Litestar(
        route_handlers=[
            graphql_controller(schema, holder.get, graphiql=web.graphiql),
            health.health,
            metrics_endpoint,
            signin.google_login,
            signin.google_callback,
            signin.sign_in_methods,
            signin.token_sign_in,
            signin.logout,
            webhooks.stripe_webhook,
            *local_storage.routes(settings),
            *web.routes(),
        ],
        lifespan=[lifespan],
        middleware=[
            request_id_middleware,
            metrics.middleware,
            rate_limit_middleware(limiter),
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
