"""The /graphql endpoint: Strawberry's Litestar controller with Hushcut's context and auth."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, ClassVar

from litestar import MediaType, Request, Response, post
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.types import Dependencies, Scope
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar import make_graphql_controller
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types.unset import UnsetType

from hushcut.api.auth import authenticate, bearer_token, headers_of
from hushcut.api.graphql.context import Context
from hushcut.api.graphql.fastpath import run_post
from hushcut.api.graphql.schema import HushcutSchema
from hushcut.api.origins import same_origin
from hushcut.api.ratelimit import RATE_LIMITED_ERROR
from hushcut.api.state import ApiState
from hushcut.core.errors import ServiceError

logger = logging.getLogger("hushcut.api.graphql")

CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)


def graphql_controller(
    schema: HushcutSchema,
    api_state: Callable[[], ApiState],
    graphiql: Callable[[Request[Any, Any, Any]], Response[bytes]],
) -> type[Any]:
    """A controller at /graphql whose context authenticates HTTP callers up front.

    ``graphiql`` answers ``GET /graphql`` from a browser (the local GraphiQL page;
    Strawberry's own loads its scripts from a CDN).

    The context getter takes the ASGI ``scope`` rather than a Request, because the same
    getter also serves the websocket route, where a Request cannot be built.
    """

    async def get_context(scope: Scope) -> AsyncIterator[Context]:
        api = api_state()
        if scope["type"] == ScopeType.HTTP:
            context = await http_context(api, scope)
        else:
            context = Context(api=api, short_sessions=True)
        try:
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
        graphql_transport_ws_handler_class = CountedTransportWSHandler

        def decode_json(self, data: str | bytes) -> object:
            # GET variables and websocket messages: JSON nested too deeply to parse is the
            # client's malformed input (400, or close 4400), not a server error.
            try:
                return json.loads(data)
            except RecursionError:
                raise json.JSONDecodeError("nested too deeply", "", 0) from None

        # Strawberry builds the sub-response in a worker thread (sync_to_thread); a
        # thread hop per request is a measurable share of a small query's cost.
        dependencies: ClassVar[Dependencies] = {
            **base.dependencies,
            "response": Provide(_sub_response),
        }

        @post(status_code=200)
        async def handle_http_post(self, request: Request[Any, Any, Any]) -> Response[bytes]:
            content_type = request.headers.get("content-type", "")
            if not content_type.startswith("application/json"):
                return Response(
                    b'{"errors":[{"message":"send application/json"}]}',
                    status_code=415,
                    media_type=MediaType.JSON,
                )
            context = await http_context(api_state(), request.scope)
            try:
                status, body = await run_post(await request.body(), context, schema)
            finally:
                await context.close()
            return Response(body, status_code=status, media_type=MediaType.JSON)

        async def render_graphql_ide(self, request: Request[Any, Any, Any]) -> Response[Any]:
            return graphiql(request)

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
            return UnsetType()  # acknowledge without a payload

    return HushcutGraphQLController


class CountedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws that counts every operation a socket starts against the rate
    limits of its address and principal, as a request over HTTP would be."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        socket = self.context.websocket
        if self.connection_acknowledged and socket is not None:
            limits = self.context.api.limiter
            if not await limits.allow_websocket_operation(
                socket.scope, self.context.connection_params
            ):
                refusal: ErrorMessage = {
                    "id": message["id"],
                    "type": "error",
                    "payload": [RATE_LIMITED_ERROR],
                }
                await self.send_message(refusal)
                return
        await super().handle_subscribe(message)


async def http_context(api: ApiState, scope: Scope) -> Context:
    """The context of an HTTP request, with its caller authenticated up front."""
    context = Context(api=api)
    try:
        context.principal = await context.call(authenticate, api, headers_of(scope["headers"]))
    except ServiceError as exc:
        context.auth_error = exc
    principal = context.principal
    if principal is not None and principal.via_cookie and not principal.csrf_ok:
        context.csrf_missing = True
    return context


async def _sub_response() -> Response[Any]:
    return Response({}, background=BackgroundTasks([]))


def _same_origin(api: ApiState, headers: dict[str, str]) -> bool:
    origin = headers.get("origin")
    if origin is None:
        # Not a browser (browsers always send Origin on websockets).
        return True
    return same_origin(origin, api.settings.app_url)
