"""The /graphql endpoint: Strawberry's Litestar controller with Hushcut's context and auth."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import strawberry
from litestar import Response
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from litestar.types import Dependencies, Scope
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar import make_graphql_controller
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from hushcut.api.auth import authenticate, bearer_token, headers_of
from hushcut.api.graphql.context import Context
from hushcut.api.state import ApiState
from hushcut.core.errors import ServiceError

logger = logging.getLogger("hushcut.api.graphql")

CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)


def graphql_controller(schema: strawberry.Schema, api_state: Callable[[], ApiState]) -> type[Any]:
    """A controller at /graphql whose context authenticates HTTP callers up front.

    The context getter takes the ASGI ``scope`` rather than a Request, because the same
    getter also serves the websocket route, where a Request cannot be built.
    """

    async def get_context(scope: Scope) -> AsyncIterator[Context]:
        api = api_state()
        context = Context(api=api)
        try:
            if scope["type"] == "http":
                headers = headers_of(scope["headers"])
                try:
                    context.principal = await context.call(authenticate, api, headers)
                except ServiceError as exc:
                    context.auth_error = exc
                if (
                    context.principal is not None
                    and context.principal.via_cookie
                    and not context.principal.csrf_ok
                ):
                    context.csrf_missing = True
                # Reads committed by authentication end its transaction, so the
                # resolvers see fresh data.
            else:
                context.short_sessions = True
            yield context
        finally:
            await context.close()

    base = make_graphql_controller(
        schema,
        path="/graphql",
        context_getter=get_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        keep_alive=False,
        max_subscriptions_per_connection=50,
    )

    class HushcutGraphQLController(base):  # type: ignore[misc, valid-type]
        # Strawberry builds the sub-response in a worker thread (sync_to_thread); a
        # thread hop per request is a measurable share of a small query's cost.
        dependencies: ClassVar[Dependencies] = {
            **base.dependencies,
            "response": Provide(_sub_response),
        }

        async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
            """Authenticate the socket once, from connection_init or the session cookie."""
            params = context.connection_params or {}
            token = params.get("Authorization") or params.get("authorization")
            socket = context.websocket
            headers = headers_of(socket.scope["headers"]) if socket is not None else {}
            api = context.api
            if token is None and "cookie" in headers and not _same_origin(api, headers):
                # A cookie alone must not let another site's page open a socket as the
                # user (cross-site websocket hijacking): browsers do not block it.
                raise ConnectionRejectionError(
                    {"code": "FORBIDDEN", "message": "cross-origin websocket refused"}
                )
            try:
                if isinstance(token, str):
                    raw = bearer_token(token) if " " in token.strip() else token.strip()
                    headers = {}
                    principal = await context.call(authenticate, api, headers, token=raw)
                else:
                    principal = await context.call(authenticate, api, headers)
            except ServiceError as exc:
                raise ConnectionRejectionError({"code": exc.code, "message": str(exc)}) from None
            if principal is None:
                raise ConnectionRejectionError(
                    {
                        "code": "UNAUTHENTICATED",
                        "message": "send Authorization in the connection_init payload",
                    }
                )
            context.principal = principal
            return UNSET

    return HushcutGraphQLController


async def _sub_response() -> Response[Any]:
    return Response({}, background=BackgroundTasks([]))


def _same_origin(api: ApiState, headers: dict[str, str]) -> bool:
    origin = headers.get("origin")
    if origin is None:
        # Not a browser (browsers always send Origin on websockets).
        return True
    return _origin_of(origin) == _origin_of(api.settings.app_url)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
